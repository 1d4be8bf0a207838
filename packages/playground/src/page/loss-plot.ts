// The Train panel's live loss plot: training loss per step and validation loss, as SVG polylines
// on a fixed frame that rescales as points arrive.

const SVG = 'http://www.w3.org/2000/svg';
const TRAIN_COLOR = '#2f6fde', VALIDATION_COLOR = '#e07b00';
const W = 560, H = 240, LEFT = 44, RIGHT = 12, TOP = 12, BOTTOM = 28;

/** A loss plot bound to an <svg> element. */
export class LossPlot {
  private readonly train: Array<[number, number]> = [];
  private readonly validation: Array<[number, number]> = [];
  private readonly trainLine: SVGPolylineElement;
  private readonly validationLine: SVGPolylineElement;
  private readonly axes: SVGGElement;

  /** Draws into `svg`, which it sizes and fills. */
  constructor(private readonly svg: SVGSVGElement, private maxSteps: number) {
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('width', String(W));
    svg.setAttribute('height', String(H));
    this.axes = document.createElementNS(SVG, 'g');
    this.trainLine = line(TRAIN_COLOR, 'train-line');
    this.validationLine = line(VALIDATION_COLOR, 'validation-line');
    svg.append(this.axes, this.trainLine, this.validationLine);
    this.draw();
  }

  /** Adds a training loss. */
  addTrain(step: number, loss: number): void {
    this.train.push([step, loss]);
    this.draw();
  }

  /** Adds a validation loss. */
  addValidation(step: number, loss: number): void {
    this.validation.push([step, loss]);
    this.draw();
  }

  /** Sets the step count of the x axis. */
  setMaxSteps(n: number): void {
    this.maxSteps = n;
    this.draw();
  }

  private draw(): void {
    const all = [...this.train, ...this.validation].map(([, l]) => l);
    const hi = all.length ? Math.ceil(Math.max(...all) * 2) / 2 : 6;
    const lo = all.length ? Math.floor(Math.min(...all) * 2) / 2 : 0;
    const span = Math.max(hi - lo, 0.5);
    const x = (s: number) => LEFT + ((W - LEFT - RIGHT) * s) / this.maxSteps;
    const y = (l: number) => TOP + ((H - TOP - BOTTOM) * (lo + span - l)) / span;
    const pts = (p: Array<[number, number]>) => p.map(([s, l]) => `${x(s).toFixed(1)},${y(l).toFixed(1)}`).join(' ');
    this.trainLine.setAttribute('points', pts(this.train));
    this.validationLine.setAttribute('points', pts(this.validation));
    this.axes.replaceChildren();
    const axis = document.createElementNS(SVG, 'path');
    axis.setAttribute('d', `M${LEFT},${TOP} V${H - BOTTOM} H${W - RIGHT}`);
    axis.setAttribute('stroke', '#888');
    axis.setAttribute('fill', 'none');
    this.axes.append(axis);
    const label = (tx: number, ty: number, text: string, anchor: string, color = '#444') => {
      const t = document.createElementNS(SVG, 'text');
      t.setAttribute('x', String(tx));
      t.setAttribute('y', String(ty));
      t.setAttribute('font-size', '11');
      t.setAttribute('text-anchor', anchor);
      t.setAttribute('fill', color);
      t.textContent = text;
      this.axes.append(t);
    };
    label(LEFT - 4, TOP + 4, (lo + span).toFixed(1), 'end');
    label(LEFT - 4, H - BOTTOM, lo.toFixed(1), 'end');
    label(LEFT, H - 8, '0', 'middle');
    label(W - RIGHT, H - 8, String(this.maxSteps), 'end');
    label((LEFT + W) / 2, H - 8, 'step', 'middle');
    label(W - RIGHT, TOP + 14, 'train loss', 'end', TRAIN_COLOR);
    label(W - RIGHT, TOP + 28, 'validation loss', 'end', VALIDATION_COLOR);
  }
}

function line(color: string, testId: string): SVGPolylineElement {
  const l = document.createElementNS(SVG, 'polyline');
  l.setAttribute('fill', 'none');
  l.setAttribute('stroke', color);
  l.setAttribute('stroke-width', '1.5');
  l.setAttribute('data-testid', testId);
  return l;
}
