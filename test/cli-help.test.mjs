// Each command's --help reads well: numbers shown as [number], no empty default for a required list, choices
// listed, two or three examples at the end; train's lists what a run folder holds and names the architecture --arch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers.mjs';

const COMMANDS = [['train'], ['eval'], ['predict'], ['export', 'onnx'], ['import', 'keras'], ['labels'], ['data', 'fetch'], ['serve-demo'], ['info']];

/** `engine ...command --help`'s stdout (exit 0). */
async function help(command) {
  const r = await runCli([...command, '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout;
}

test('every command\'s --help ends with 2 or 3 examples, each a comment line and an engine command', async () => {
  for (const command of COMMANDS) {
    const text = await help(command);
    const tail = text.slice(text.lastIndexOf('\nExamples:\n') + 11).trimEnd().split('\n');
    assert.ok(text.includes('\nExamples:\n'), `${command.join(' ')}: no examples`);
    assert.ok(tail.length === 4 || tail.length === 6, `${command.join(' ')}: ${tail.length / 2} examples`);
    for (let i = 0; i < tail.length; i += 2) {
      assert.match(tail[i], /^ {2}# \S/, command.join(' '));
      assert.match(tail[i + 1], new RegExp(`^ {2}engine (${command[0]}|export)( |$)`), command.join(' '));
    }
  }
});

test('numbers show as [number] with their default in words, never [string] [default: "100"]; choices are listed', async () => {
  const train = await help(['train']);
  for (const flag of ['epochs', 'batch-size', 'lr', 'seed', 'save-every', 'threads'])
    assert.match(train, new RegExp(`--${flag} [^\\n]*(\\n {5,}[^\\n-][^\\n]*)*\\[number\\]`), flag);
  assert.doesNotMatch(train, /\[default: "/);
  assert.match(train, /--conv[\s\S]*?\[choices: winograd, direct\]/);
  assert.match(train, /--arch, --model +architecture/);
  // what a run folder holds
  for (const file of ['best.safetensors', 'last.safetensors', 'history.csv', 'history.png', 'run.json', 'model.onnx', 'MODEL_CARD.md'])
    assert.ok(train.includes(file), file);
  const predict = await help(['predict']);
  assert.match(predict, /images +image files +\[array\] \[required\]\n/);
  assert.doesNotMatch(predict, /\[default: \[\]\]/);
  assert.match(await help(['eval']), /--threshold[\s\S]*?\[number\]/);
});

test('--epochs as a number is still checked as typed: a fraction or a word exits 2 naming what came', async () => {
  for (const bad of ['1.5', 'abc']) {
    const r = await runCli(['train', '--data', '/nonexistent', '--epochs', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `engine: --epochs expects a whole number, got '${bad}'\n`);
  }
  const empty = await runCli(['train', '--data', '/nonexistent', '--epochs', '']);
  assert.equal(empty.code, 2, empty.stderr);
  assert.equal(empty.stderr, 'engine: --epochs was given without a value: give --epochs VALUE\n');
});
