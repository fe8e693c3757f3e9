// Shared by the gpu test layer: one engine per test file, on SwiftShader unless
// MOONTUNE_SWIFTSHADER=0 asks for the machine's real GPU.
import { Engine } from '../../src/gpu/engine.ts';
import { acquireNodeDevice } from '../../src/gpu/node-device.ts';

let enginePromise: Promise<Engine> | undefined;

export function testEngine(): Promise<Engine> {
  enginePromise ??= acquireNodeDevice({ swiftShader: process.env.MOONTUNE_SWIFTSHADER !== '0' }).then(
    (context) => new Engine(context),
  );
  return enginePromise;
}
