// Relative URLs: the page works behind a reverse proxy that adds a path prefix.
// validatorUrl null: Swagger UI would otherwise send the document to an online validator.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
