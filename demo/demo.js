// The demo page: load the model with onnxruntime-web (served by `engine serve-demo` from node_modules, never a
// CDN), then classify each chosen or dropped image with the CLI's preprocessing (preprocess.js).
import * as ort from './ort/ort.wasm.min.mjs';
import { inputData, predictionOf, resizeRgbaNearestPIL, sigmoidFloat32 } from './preprocess.js';

ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
ort.env.wasm.numThreads = 1; // one thread: the same sums in the same order on every machine

const $ = (id) => document.getElementById(id);
const status = (text, state) => {
  $('status').textContent = text;
  $('status').dataset.state = state;
};

/** Decodes to RGBA at the image's own size, as the CLI does: EXIF orientation applied, no colour management. */
async function decodeRgba(blob) {
  const bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const { data, width, height } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close();
  return { data, width, height };
}

async function main() {
  const info = await (await fetch('model-info.json')).json();
  const session = await ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'] });
  // the card export wrote beside the model; without one the link would be a 404
  if (!info.modelCard) $('card').replaceWith('the model card (none beside this model: engine export onnx writes one)');
  $('model').textContent = `model: ${info.source}; input ${info.inputName} ${info.dtype} [${info.inputShape}] ${info.layout}; classes ${info.classes.join(', ')}`;
  status('ready: choose or drop an image', 'ready');

  async function classify(file) {
    status(`classifying ${file.name}…`, 'busy');
    try {
      const { data, width, height } = await decodeRgba(file);
      const rgb = resizeRgbaNearestPIL(data, width, height, info.width, info.height);
      window.engineDemoLastInput = rgb; // [H, W, 3] uint8, for tests comparing with the CLI's decode
      const input = inputData(info, rgb);
      const name = info.logitName ?? info.outputName;
      const out = await session.run({ [info.inputName]: new ort.Tensor(input.type, input.data, input.dims) }, [name]);
      const value = out[name].data[0];
      const p = info.logitName ? sigmoidFloat32(value) : value;
      const result = predictionOf(info.classes, p);
      $('preview').src = URL.createObjectURL(file);
      $('preview').style.display = 'block';
      $('result').textContent = `${result.class} (p = ${result.probability.toFixed(4)})`;
      Object.assign($('result').dataset, { state: 'done', class: result.class, probability: String(result.probability), file: file.name });
      // class names come from the model's metadata: text, never markup
      $('scores').replaceChildren(
        ...info.classes.flatMap((c) => {
          const label = document.createElement('div');
          label.className = 'small';
          label.textContent = `P(${c}) = ${result.scores[c].toFixed(4)}`;
          const bar = document.createElement('div');
          bar.className = 'bar';
          const fill = document.createElement('div');
          fill.style.width = `${(result.scores[c] * 100).toFixed(1)}%`;
          bar.append(fill);
          return [label, bar];
        }),
      );
      $('details').textContent = `${file.name}: ${width}x${height} decoded, resized to ${info.width}x${info.height} (PIL nearest), ${info.scale === 1 ? 'raw pixels' : `pixels / ${Math.round(1 / info.scale)}`}`;
      status('ready: choose or drop another image', 'ready');
    } catch (err) {
      $('result').dataset.state = 'error';
      status(`cannot classify ${file.name}: ${err.message}`, 'error');
    }
  }

  $('file').addEventListener('change', () => $('file').files[0] && classify($('file').files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer.files[0];
    if (file) classify(file);
  });
}

main().catch((err) => status(`cannot load the model: ${err.message}`, 'error'));
