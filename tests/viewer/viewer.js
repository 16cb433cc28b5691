// Load ?model=URL with three.js's GLTFLoader (meshopt and Draco decoders from three's own
// examples/jsm/libs), render it once, unlit as the file says, through the file's first camera;
// a file without one (or with ?camera=url) is seen from ?fovy=DEG (vertical) at the origin
// looking down -Z.
// The canvas is ?width x ?height CSS px at devicePixelRatio 1, cleared to transparent black, so
// alpha 0 marks pixels no triangle covers.  The outcome goes to window.viewerResult.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { DRACOLoader } from 'three/addons/loaders/DRACOLoader.js';
import { MeshoptDecoder } from 'three/addons/libs/meshopt_decoder.module.js';

const params = new URLSearchParams(location.search);
const width = Number(params.get('width'));
const height = Number(params.get('height'));

async function main() {
  const renderer = new THREE.WebGLRenderer({ antialias: false, alpha: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(1);
  renderer.setSize(width, height);
  renderer.setClearColor(0x000000, 0);
  document.body.appendChild(renderer.domElement);

  const draco = new DRACOLoader().setDecoderPath('/three/examples/jsm/libs/draco/');
  const loader = new GLTFLoader().setDRACOLoader(draco).setMeshoptDecoder(MeshoptDecoder);
  const gltf = await loader.loadAsync(params.get('model'));
  draco.dispose();

  let camera = params.get('camera') === 'url' ? undefined : gltf.cameras[0];
  const source = camera ? 'gltf' : 'url';
  if (!camera) {
    camera = new THREE.PerspectiveCamera(Number(params.get('fovy')), width / height, 0.01, 10000);
  }
  camera.aspect = width / height;
  camera.updateProjectionMatrix();
  gltf.scene.updateMatrixWorld(true);

  let triangles = 0;
  const materials = new Set();
  gltf.scene.traverse((obj) => {
    if (obj.isMesh) {
      const g = obj.geometry;
      triangles += (g.index ? g.index.count : g.attributes.position.count) / 3;
      materials.add(obj.material.type);
    }
  });
  renderer.render(gltf.scene, camera);
  const gl = renderer.getContext();
  return {
    ok: true, camera: source, fovy: camera.fov, triangles, materials: [...materials],
    extensions: gltf.parser.json.extensionsUsed || [],
    renderer: gl.getParameter(gl.getExtension('WEBGL_debug_renderer_info')?.UNMASKED_RENDERER_WEBGL ?? gl.RENDERER),
  };
}

main().then(
  (result) => { window.viewerResult = result; },
  (error) => { window.viewerResult = { ok: false, error: String(error && error.stack || error) }; },
);
