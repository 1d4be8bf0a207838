// This thread's WebAssembly memory, shared by every kernel module (matmul.ts, softmax.ts), and
// each module's instance over it. Operands are staged into the memory for each call.
// A module may also take a private instance on a memory of its own (`privateInstance`): the
// matmul module keeps weights resident in one (wasm/matmul.ts), out of reach of this memory's
// per-call staging and unaffected when this memory is replaced.
//
// Memory comes in steps of at least 64 MiB (reserved, not touched: the OS backs pages on first
// write). A call that needs more gets a new, larger memory, and every module a new instance on
// it. NOTE: never memory.grow(): growing detaches the old ArrayBuffer, and once any buffer in the
// process is detached V8 checks every typed-array load for it (13–15% slower loops everywhere).

const MEMORY_STEP = 64 << 20;

let memory: WebAssembly.Memory | null = null;

/** A module's instance on this thread's memory, with a float view of all of it. */
export interface KernelInstance<Exports> {
  /** The module's exported functions. */
  exports: Exports;
  /** The whole memory as floats (byte address 4i is f32[i]). */
  f32: Float32Array;
}

/** A kernel module, compiled once per thread and instantiated on this thread's memory. */
export class KernelModule<Exports> {
  private compiled: WebAssembly.Module | null = null;
  private current: KernelInstance<Exports> | null = null;
  private on: WebAssembly.Memory | null = null;

  /** `bytes` builds the module (it imports the memory as env.memory). */
  constructor(private readonly bytes: () => Uint8Array<ArrayBuffer>) {}

  /** A new instance on a new memory of its own, of `bytes` bytes (a multiple of 64 KiB), never replaced. */
  privateInstance(bytes: number): KernelInstance<Exports> {
    this.compiled ??= new WebAssembly.Module(this.bytes());
    const own = new WebAssembly.Memory({ initial: bytes / 65536 });
    const exports = new WebAssembly.Instance(this.compiled, { env: { memory: own } }).exports as unknown as Exports;
    return { exports, f32: new Float32Array(own.buffer) };
  }

  /** The instance on a memory of at least `size` bytes: the same object until the memory is replaced. */
  instance(size: number): KernelInstance<Exports> {
    if (!memory || memory.buffer.byteLength < size) {
      // at least one step: an empty call (size 0) may come first, and every module imports a memory of ≥ 1 page
      const bytes = Math.max(1, Math.ceil(Math.max(size, 2 * (memory?.buffer.byteLength ?? 0)) / MEMORY_STEP)) * MEMORY_STEP;
      memory = new WebAssembly.Memory({ initial: bytes / 65536 });
    }
    if (this.on !== memory || !this.current) {
      this.compiled ??= new WebAssembly.Module(this.bytes());
      const exports = new WebAssembly.Instance(this.compiled, { env: { memory } }).exports as unknown as Exports;
      this.current = { exports, f32: new Float32Array(memory.buffer) };
      this.on = memory;
    }
    return this.current;
  }
}
