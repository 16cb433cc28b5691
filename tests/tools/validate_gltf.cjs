// Validate .glb/.gltf files with the Khronos glTF-Validator; prints one JSON report per file.
// Usage: node validate_gltf.cjs FILE...   (exit 0 always; the caller reads the counts)
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

async function validate(file) {
  const data = new Uint8Array(fs.readFileSync(file));
  const dir = path.dirname(file);
  const report = await validator.validateBytes(data, {
    uri: path.basename(file),
    maxIssues: 100,
    externalResourceFunction: (uri) =>
      new Promise((resolve, reject) => {
        try {
          resolve(new Uint8Array(fs.readFileSync(path.join(dir, decodeURIComponent(uri)))));
        } catch (e) {
          reject(e.toString());
        }
      }),
  });
  return report;
}

(async () => {
  const out = [];
  for (const f of process.argv.slice(2)) {
    const r = await validate(f);
    out.push({
      file: f,
      errors: r.issues.numErrors,
      warnings: r.issues.numWarnings,
      infos: r.issues.numInfos,
      messages: r.issues.messages.filter((m) => m.severity <= 1),
    });
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})();
