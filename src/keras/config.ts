// Reads the architecture out of a Keras `model.save` file's model_config (a JSON attribute) as an engine
// ModelSpec, accepting only what the engine computes the same way: 3x3 stride-1 "valid" convolutions and
// 2x2 stride-2 max-pooling, channels-last, ReLU between layers and a sigmoid at the end.
import type { LayerSpec, ModelSpec } from '../model/spec.js';

interface KerasLayer {
  class_name: string;
  config: Record<string, unknown>;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Throws a plain Error (the caller names the file) describing the first layer the engine cannot express. */
export function specFromModelConfig(json: string, name: string): ModelSpec {
  let config: { class_name?: string; config?: unknown };
  try {
    config = JSON.parse(json);
  } catch {
    throw new Error('model_config is not JSON');
  }
  // Keras 2.1 stores a Sequential's layers as `config: [...]`, Keras 2.2+ as `config: {layers: [...]}`.
  const raw = Array.isArray(config.config) ? config.config : (config.config as { layers?: unknown } | undefined)?.layers;
  if (config.class_name !== 'Sequential' || !Array.isArray(raw))
    throw new Error(`expected a Sequential model, found ${config.class_name ?? 'no model class'}`);
  const layers = raw as KerasLayer[];

  const input = layers[0]?.config.batch_input_shape;
  if (!Array.isArray(input) || input.length !== 4) throw new Error('the first layer has no batch_input_shape');
  const spec: LayerSpec[] = [];
  let sigmoid = false;
  const activation = (act: unknown, layer: string): void => {
    if (act === 'relu') spec.push({ type: 'relu' });
    else if (act === 'sigmoid') sigmoid = true;
    else if (act !== 'linear') throw new Error(`${layer}: activation '${String(act)}' (the engine has relu and a final sigmoid)`);
  };

  for (const { class_name: kind, config: c } of layers) {
    const layer = `${String(c.name)} (${kind})`;
    if (sigmoid) throw new Error(`${layer} follows the output sigmoid`);
    if ('data_format' in c && c.data_format !== 'channels_last') throw new Error(`${layer}: data_format ${String(c.data_format)}`);
    switch (kind) {
      case 'Conv2D':
        if (!same(c.kernel_size, [3, 3]) || !same(c.strides, [1, 1]) || c.padding !== 'valid' || !same(c.dilation_rate ?? [1, 1], [1, 1]) || c.use_bias === false)
          throw new Error(`${layer}: kernel ${same(c.kernel_size, [3, 3]) ? '3x3' : JSON.stringify(c.kernel_size)}, strides ${JSON.stringify(c.strides)}, padding ${String(c.padding)} (the engine has 3x3 stride-1 'valid' convolutions with bias)`);
        spec.push({ type: 'conv3x3', filters: Number(c.filters) });
        activation(c.activation, layer);
        break;
      case 'MaxPooling2D':
        if (!same(c.pool_size, [2, 2]) || !same(c.strides ?? c.pool_size, [2, 2]) || c.padding !== 'valid')
          throw new Error(`${layer}: pool ${JSON.stringify(c.pool_size)}, strides ${JSON.stringify(c.strides)}, padding ${String(c.padding)} (the engine has 2x2 stride-2 'valid' pooling)`);
        spec.push({ type: 'maxpool2x2' });
        break;
      case 'Activation':
        activation(c.activation, layer);
        break;
      case 'Flatten':
        spec.push({ type: 'flatten' });
        break;
      case 'Dense':
        if (c.use_bias === false) throw new Error(`${layer}: no bias`);
        spec.push({ type: 'dense', units: Number(c.units) });
        activation(c.activation, layer);
        break;
      case 'Dropout':
        spec.push({ type: 'dropout', rate: Number(c.rate) });
        break;
      default:
        throw new Error(`${layer}: layer type not supported by the engine`);
    }
  }
  if (!sigmoid) throw new Error('the model does not end in a sigmoid (the engine trains binary classifiers)');
  return { name, input: [Number(input[1]), Number(input[2]), Number(input[3])], layers: spec };
}

/** One line per spec, e.g. "150x150x3: conv3x3(32) relu maxpool2x2 ... dense(1)", for error messages. */
export function describeSpec(spec: ModelSpec): string {
  const layer = (l: LayerSpec): string =>
    l.type === 'conv3x3' ? `conv3x3(${l.filters})` : l.type === 'dense' ? `dense(${l.units})` : l.type === 'dropout' ? `dropout(${l.rate})` : l.type;
  return `${spec.input.join('x')}: ${spec.layers.map(layer).join(' ')}`;
}
