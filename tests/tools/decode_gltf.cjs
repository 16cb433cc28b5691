// Decode a compressed .glb/.gltf with glTF-Transform and the meshoptimizer and Draco projects'
// own decoders (npm `meshoptimizer`, `draco3dgltf`), and write it back without compression.
// Usage: node decode_gltf.cjs IN OUT.glb
// Prints one JSON line: the extensions the input used and, per primitive of the decoded file,
// its mode, vertex and index counts; and per texture its size.  Exit 1 on any failure.
const { NodeIO } = require("@gltf-transform/core");
const { ALL_EXTENSIONS } = require("@gltf-transform/extensions");
const MeshoptDecoder = require("meshoptimizer/decoder.cjs");
const draco3d = require("draco3dgltf");

const COMPRESSION = ["EXT_meshopt_compression", "KHR_draco_mesh_compression"];

(async () => {
  const [input, output] = process.argv.slice(2);
  await MeshoptDecoder.ready;
  const io = new NodeIO().registerExtensions(ALL_EXTENSIONS).registerDependencies({
    "meshopt.decoder": MeshoptDecoder,
    "draco3d.decoder": await draco3d.createDecoderModule(),
  });
  const doc = await io.read(input);
  const root = doc.getRoot();
  const used = root.listExtensionsUsed().map((e) => e.extensionName);
  for (const ext of root.listExtensionsUsed()) {
    if (COMPRESSION.includes(ext.extensionName)) ext.dispose();
  }
  const primitives = [];
  for (const mesh of root.listMeshes()) {
    for (const prim of mesh.listPrimitives()) {
      const indices = prim.getIndices();
      primitives.push({
        mode: prim.getMode(),
        vertices: prim.getAttribute("POSITION").getCount(),
        indices: indices ? indices.getCount() : null,
        attributes: prim.listSemantics(),
      });
    }
  }
  const textures = root.listTextures().map((t) => ({ size: t.getSize(), mimeType: t.getMimeType() }));
  await io.write(output, doc);
  process.stdout.write(JSON.stringify({ extensionsUsed: used, primitives, textures }) + "\n");
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
