// onnxruntime-node, with onnxruntime's telemetry off. Its Linux build (1.30) starts Microsoft's telemetry client
// with a process's first session: an empty /tmp/mat-debug-<pid>.log left behind by every process, an event store
// and a device id under ~/.cache/Microsoft/DeveloperTools/.onnxruntime (fsync'd as it runs), and HTTPS uploads
// where it finds CA certificates. ORT_DISABLE_TELEMETRY, read when that first session creates onnxruntime's
// environment, turns it all off; a value the user set is kept. Every session of this package comes from here.
process.env.ORT_DISABLE_TELEMETRY ??= '1';

export { InferenceSession, Tensor } from 'onnxruntime-node';
