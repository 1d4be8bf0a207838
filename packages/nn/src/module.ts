// Module, Parameter, ModuleList: the bookkeeping every layer shares. As in PyTorch, a module finds
// its parameters and children by looking at its own fields, in the order they were declared, and
// names them by dotted field paths (`layers.0.self_attn.q_proj.weight`): those names are the
// checkpoint keys.

import { type DType, Tensor, formatShape, noGrad } from '@tsgrad/tensor';

/** A leaf tensor that a Module owns and an optimizer updates: requiresGrad is true by default. */
export class Parameter extends Tensor {
  /** Wraps data (sharing its storage when contiguous, else a contiguous copy) as a trainable leaf. */
  constructor(data: Tensor, requiresGrad = true) {
    const t = data.isContiguous() ? data : noGrad(() => data.contiguous());
    super(t.storage, t.shape, t.strides, t.offset, t.dtype);
    this.setRequiresGrad(requiresGrad);
  }
}

/** What `loadStateDict` reports: keys it did not find, keys it did not know, and shape mismatches. */
export interface LoadStateDictResult {
  /** Keys of the module absent from the state dict. */
  missingKeys: string[];
  /** Keys of the state dict the module does not have. */
  unexpectedKeys: string[];
  /** Keys present in both whose shapes differ (left unloaded). */
  mismatched: Array<{ key: string; expected: number[]; got: number[] }>;
}

/** A state dict as `stateDict()` returns it, or a plain record of tensors. */
export type StateDictLike = Map<string, Tensor> | Record<string, Tensor>;

/** Options of `registerBuffer`. */
export interface BufferOptions {
  /** Whether the buffer appears in `stateDict()` (default true). */
  persistent?: boolean;
}

const joinName = (prefix: string, name: string) => (prefix ? `${prefix}.${name}` : name);

/**
 * The base of every layer. Parameters and child modules are discovered from the module's own
 * fields in declaration order; subclasses define their own `forward` with whatever signature fits.
 *
 * @example
 * ```ts
 * import { Linear, Module } from '@tsgrad/nn';
 * import { Generator, type Tensor, tensor } from '@tsgrad/tensor';
 *
 * class TwoLayer extends Module {
 *   fc1: Linear;
 *   fc2: Linear;
 *   constructor(generator: Generator) {
 *     super();
 *     this.fc1 = new Linear(2, 8, { generator });
 *     this.fc2 = new Linear(8, 1, { generator });
 *   }
 *   // x [N, 2] to [N, 1]
 *   forward(x: Tensor): Tensor { return this.fc2.forward(this.fc1.forward(x).relu()); }
 * }
 *
 * const net = new TwoLayer(new Generator(0));
 * // the dotted field paths are the parameter names (and the keys of stateDict())
 * console.log(net.namedParameters().map(([name, p]) => `${name} [${p.shape}]`).join(', '));
 * // → fc1.weight [8,2], fc1.bias [8], fc2.weight [1,8], fc2.bias [1]
 * console.log(net.forward(tensor([[1, 2], [3, 4], [5, 6]])).shape); // → [ 3, 1 ]
 * ```
 */
export class Module {
  /** True in training mode (the default), false after `eval()`. */
  training = true;
  // names of fields holding buffers, and whether each is saved in the state dict
  private readonly bufferPersistence = new Map<string, boolean>();

  /** The fields that can hold parameters or children, as [name, value] in declaration order. */
  protected namedFields(): Array<[string, unknown]> {
    return Object.entries(this);
  }

  /** Direct child modules, as [field name, module], in declaration order. */
  namedChildren(): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    const seen = new Set<Module>();
    for (const [name, value] of this.namedFields()) {
      if (value instanceof Module && !seen.has(value)) {
        seen.add(value);
        out.push([name, value]);
      }
    }
    return out;
  }

  /** Direct child modules, in declaration order. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every descendant, depth first, with dotted names ('' for this one); each module once. */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    const seen = new Set<Module>();
    // an explicit stack rather than recursion, so a very deep tree cannot overflow
    const stack: Array<[string, Module]> = [[prefix, this]];
    while (stack.length > 0) {
      const [name, m] = stack.pop()!;
      if (seen.has(m)) continue;
      seen.add(m);
      out.push([name, m]);
      const kids = m.namedChildren();
      for (let i = kids.length - 1; i >= 0; i--) stack.push([joinName(name, kids[i]![0]), kids[i]![1]]);
    }
    return out;
  }

  /** This module and every descendant, depth first. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /**
   * Every parameter with its dotted name, in declaration order. With removeDuplicate (the default,
   * as PyTorch) a parameter shared by several modules appears once, under the first name reached.
   */
  namedParameters(prefix = '', recurse = true, removeDuplicate = true): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    const seen = new Set<Parameter>();
    const owners: Array<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [moduleName, m] of owners) {
      for (const [name, value] of m.namedFields()) {
        if (!(value instanceof Parameter)) continue;
        if (removeDuplicate && seen.has(value)) continue;
        seen.add(value);
        out.push([joinName(moduleName, name), value]);
      }
    }
    return out;
  }

  /** Every parameter once, in declaration order (what an optimizer is given). */
  parameters(recurse = true): Parameter[] {
    return this.namedParameters('', recurse).map(([, p]) => p);
  }

  /** Registers a tensor field that is state but not a parameter (saved in stateDict unless persistent is false). */
  registerBuffer(name: string, value: Tensor, opts: BufferOptions = {}): void {
    if (value instanceof Parameter) throw new Error(`registerBuffer: '${name}' is a Parameter; assign it as a field instead`);
    (this as unknown as Record<string, unknown>)[name] = value;
    this.bufferPersistence.set(name, opts.persistent ?? true);
  }

  /** Every buffer with its dotted name (persistent ones only when onlyPersistent is set). */
  namedBuffers(prefix = '', onlyPersistent = false): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    const seen = new Set<Tensor>();
    for (const [moduleName, m] of this.namedModules(prefix)) {
      for (const [name, persistent] of m.bufferPersistence) {
        const value = (m as unknown as Record<string, unknown>)[name];
        if (!(value instanceof Tensor) || seen.has(value) || (onlyPersistent && !persistent)) continue;
        seen.add(value);
        out.push([joinName(moduleName, name), value]);
      }
    }
    return out;
  }

  /** Sets the training flag of this module and every descendant; returns this. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: `train(false)`; returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Clears the gradient of every parameter (sets `.grad` to null). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * Converts every parameter and buffer to dtype in place of the old ones (shared parameters stay
   * shared); gradients are dropped. Returns this.
   */
  to(dtype: DType): this {
    const converted = new Map<Tensor, Tensor>();
    const convert = (t: Tensor): Tensor => {
      if (t.dtype === dtype) return t;
      let c = converted.get(t);
      if (!c) {
        const data = noGrad(() => t.detach().to(dtype));
        c = t instanceof Parameter ? new Parameter(data, t.requiresGrad) : data;
        converted.set(t, c);
      }
      return c;
    };
    for (const m of this.modules()) {
      const fields = m as unknown as Record<string, unknown>;
      for (const [name, value] of m.namedFields()) if (value instanceof Parameter) fields[name] = convert(value);
      for (const name of m.bufferPersistence.keys()) {
        const value = fields[name];
        if (value instanceof Tensor) fields[name] = convert(value);
      }
    }
    return this;
  }

  /**
   * Parameters and persistent buffers by dotted name, as detached views sharing their storage.
   * Shared parameters appear once, under their first name (so tied weights are saved once).
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, p] of this.namedParameters()) out.set(name, p.detach());
    for (const [name, b] of this.namedBuffers('', true)) out.set(name, b.detach());
    return out;
  }

  /**
   * Copies the tensors of a state dict into this module's parameters and buffers, in place (values
   * converted to each parameter's dtype). Strict (the default): every key must match and every shape
   * agree, else one Error lists all the differences and nothing is copied. Non-strict: loads what
   * matches and reports the rest. A shared parameter may also be given under a later name of its own
   * (tied `lm_head.weight`), which is then not unexpected.
   */
  loadStateDict(sd: StateDictLike, opts: { strict?: boolean } = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const given = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const targets = new Map<string, Tensor>([...this.namedParameters(), ...this.namedBuffers('', true)]);
    // the other names of shared parameters: accepted, and used when the first name is absent
    const aliases = new Map<string, string>();
    const firstName = new Map<Tensor, string>();
    for (const [name, p] of targets) firstName.set(p, name);
    for (const [name, p] of this.namedParameters('', true, false)) {
      const first = firstName.get(p)!;
      if (first !== name) aliases.set(name, first);
    }

    const result: LoadStateDictResult = { missingKeys: [], unexpectedKeys: [], mismatched: [] };
    const plan: Array<[Tensor, Tensor]> = [];
    for (const [name, target] of targets) {
      let source = given.get(name);
      if (!source) for (const [alias, first] of aliases) if (first === name && given.has(alias)) source = given.get(alias);
      if (!source) {
        result.missingKeys.push(name);
      } else if (!(source instanceof Tensor)) {
        throw new Error(`loadStateDict: the value for '${name}' is not a Tensor`);
      } else if (source.ndim !== target.ndim || source.shape.some((s, i) => s !== target.shape[i])) {
        result.mismatched.push({ key: name, expected: [...target.shape], got: [...source.shape] });
      } else {
        plan.push([target, source]);
      }
    }
    for (const name of given.keys()) if (!targets.has(name) && !aliases.has(name)) result.unexpectedKeys.push(name);

    if (strict && (result.missingKeys.length || result.unexpectedKeys.length || result.mismatched.length)) {
      const lines = [`loadStateDict: error(s) loading the state dict into ${this.constructor.name}:`];
      if (result.missingKeys.length) lines.push(`  missing keys: ${result.missingKeys.join(', ')}`);
      if (result.unexpectedKeys.length) lines.push(`  unexpected keys: ${result.unexpectedKeys.join(', ')}`);
      for (const m of result.mismatched) {
        lines.push(`  size mismatch for ${m.key}: the checkpoint has shape ${formatShape(m.got)}, the module ${formatShape(m.expected)}`);
      }
      throw new Error(lines.join('\n'));
    }
    noGrad(() => {
      for (const [target, source] of plan) target.copy_(source);
    });
    return result;
  }
}

/** A list of modules that registers each as a child named by its index (`layers.0`, `layers.1`, …). */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[];

  /** A list holding the given modules in order. */
  constructor(modules: Iterable<M> = []) {
    super();
    this.items = [...modules];
  }

  protected override namedFields(): Array<[string, unknown]> {
    return this.items.map((m, i) => [String(i), m]);
  }

  /** Number of modules. */
  get length(): number {
    return this.items.length;
  }

  /** The module at index i (negative counts from the end). */
  get(i: number): M {
    const m = this.items.at(i);
    if (m === undefined) throw new Error(`ModuleList: index ${i} is out of range for ${this.items.length} modules`);
    return m;
  }

  /** Appends a module; returns this. */
  push(m: M): this {
    this.items.push(m);
    return this;
  }

  /** Iterates over the modules in order. */
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
