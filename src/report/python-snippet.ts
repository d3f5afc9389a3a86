// A few lines of Python that run an exported model with onnxruntime as its metadata says to feed it (PIL's
// convert to grey or RGB, its resize rule, the scale, the layout), for the model card.

/** What the snippet needs of a model's interface (onnx/graph.ts' ModelInfo has it: report/ reads no model itself). */
export interface SnippetModel {
  classes: string[];
  head: 'sigmoid' | 'softmax';
  inputName: string;
  outputName: string;
  height: number;
  width: number;
  channels: number;
  layout: string;
  dtype: string;
  scale: number;
  resize: string;
}

const PIL_RULE: Record<string, string> = { 'pil-nearest': 'NEAREST', bilinear: 'BILINEAR' };

/** The snippet's lines: `modelFile` and `image` as written in it, the prediction printed as '<class> <probability>'. */
export function pythonSnippet(info: SnippetModel, modelFile: string, image = 'image.png'): string[] {
  const { width: w, height: h, channels: c } = info;
  const resize = info.resize === 'none' ? '' : `.resize((${w}, ${h}), Image.${PIL_RULE[info.resize]})`;
  const pixels =
    info.dtype === 'uint8' ? `np.asarray(img, dtype=np.uint8).reshape(${h}, ${w}, ${c})` : `np.asarray(img, dtype=np.float32).reshape(${h}, ${w}, ${c}) * np.float32(${info.scale})`;
  const batch = info.layout === 'NCHW' ? 'x.transpose(2, 0, 1)[np.newaxis]' : 'x[np.newaxis]';
  const decide =
    info.head === 'sigmoid'
      ? [`p = float(out[0, 0])   # P(${info.classes[1]})`, `print(classes[1] if p > 0.5 else classes[0], p if p > 0.5 else 1 - p)`]
      : ['k = int(out[0].argmax())', 'print(classes[k], float(out[0, k]))'];
  return [
    'import numpy as np, onnxruntime as ort',
    'from PIL import Image',
    '',
    `classes = ${JSON.stringify(info.classes).replaceAll('","', '", "')}`,
    `session = ort.InferenceSession(${JSON.stringify(modelFile)})`,
    `img = Image.open(${JSON.stringify(image)}).convert("${c === 1 ? 'L' : 'RGB'}")${resize}` + (info.resize === 'none' ? `   # must be ${w}x${h} already` : ''),
    `x = ${pixels}   # HWC`,
    `out = session.run(["${info.outputName}"], {"${info.inputName}": ${batch}})[0]`,
    ...decide,
  ];
}
