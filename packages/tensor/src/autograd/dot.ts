// toDot: the graph that produced a tensor as Graphviz DOT text, for seeing what autograd records.

import { formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';

/** Graphviz DOT text of the graph behind t: op nodes, their shapes, and leaves (marked if they require grad). */
export function toDot(t: Tensor, names: Map<Tensor, string> = new Map()): string {
  const ids = new Map<Tensor, string>();
  const lines = ['digraph tsgrad {', '  rankdir=BT;', '  node [fontname="Helvetica", fontsize=10];'];
  const id = (x: Tensor) => {
    let v = ids.get(x);
    if (!v) {
      v = `t${ids.size}`;
      ids.set(x, v);
    }
    return v;
  };
  // after a backward, the graph's non-leaf tensors are stand-ins sharing the originals' gradFn
  const namesByFn = new Map([...names].filter(([x]) => x.gradFn).map(([x, n]) => [x.gradFn!, n]));
  const seen = new Set<Tensor>();
  const stack = [t];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (seen.has(x)) continue;
    seen.add(x);
    const shape = formatShape(x.shape);
    const name = names.get(x) ?? (x.gradFn ? namesByFn.get(x.gradFn) : undefined);
    if (x.gradFn) {
      lines.push(`  ${id(x)} [shape=box, label="${x.gradFn.name}\\n${shape}${name ? `\\n${name}` : ''}"];`);
      for (const input of x.gradFn.inputs) {
        lines.push(`  ${id(input)} -> ${id(x)};`);
        stack.push(input);
      }
    } else {
      const style = x.requiresGrad ? 'style=filled, fillcolor="#cde4ff"' : 'style=dashed';
      lines.push(`  ${id(x)} [shape=ellipse, ${style}, label="${name ?? (x.requiresGrad ? 'leaf' : 'const')}\\n${shape}${x.requiresGrad ? '\\nrequiresGrad' : ''}"];`);
    }
  }
  lines.push('}');
  return lines.join('\n');
}
