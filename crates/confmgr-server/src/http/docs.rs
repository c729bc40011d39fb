//! `/docs`: a browsable page for `/openapi.json` (Swagger UI), every asset compiled into the
//! binary so that it works air-gapped. The Content-Security-Policy lets the page load
//! nothing from elsewhere.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// (file name, content type, bytes).
const ASSETS: [(&str, &str, &[u8]); 4] = [
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/docs-init.js"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        include_bytes!("../../assets/swagger-ui/favicon-32x32.png"),
    ),
];

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/docs", get(page))
        .route("/docs/{asset}", get(asset))
}

fn with_policy(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    operation_id = "docs_page",
    summary = "Browse this API (Swagger UI)",
    description = "Unauthenticated. Every asset is served by this binary; nothing is fetched from elsewhere.",
    responses((status = 200, description = "The page", content_type = "text/html"))
)]
async fn page() -> Response {
    with_policy(
        "text/html; charset=utf-8",
        include_bytes!("../../assets/docs.html"),
    )
}

#[utoipa::path(
    get,
    path = "/docs/{asset}",
    tag = "operations",
    operation_id = "docs_asset",
    summary = "An asset of the /docs page",
    params(("asset" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css`, `init.js` or `favicon-32x32.png`")),
    responses(
        (status = 200, description = "The asset"),
        (status = 404, description = "No such asset", body = confmgr_api::ErrorBody),
    )
)]
async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, bytes)) => {
            let mut response = with_policy(content_type, bytes);
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            response
        }
        None => crate::error::error_response(StatusCode::NOT_FOUND, vec!["no such asset".into()]),
    }
}
