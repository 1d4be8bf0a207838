// The messages between the page and its workers.

/** One file of a model folder, as bytes. */
export interface FolderFile {
  /** The file name, e.g. config.json. */
  name: string;
  /** Its contents. */
  bytes: Uint8Array;
}

/** Page → training worker. */
export type TrainRequest =
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'temperature'; value: number }
  | { type: 'export'; id: number }
  | { type: 'probe'; id: number; ids: number[][] };

/** Training worker → page. */
export type TrainEvent =
  | { type: 'info'; params: number; threads: number; reason: string; trainBytes: number; validationBytes: number }
  | { type: 'step'; step: number; maxSteps: number; loss: number; lr: number; tokensPerSec: number }
  | { type: 'eval'; step: number; loss: number }
  | { type: 'sample-start'; step: number; prompt: string; temperature: number }
  | { type: 'sample-text'; text: string }
  | { type: 'paused'; step: number }
  | { type: 'done'; step: number }
  | { type: 'error'; message: string }
  | { type: 'export'; id: number; files: FolderFile[] }
  | { type: 'probe'; id: number; logits: number[] };

/** Page → loading/generating worker. */
export type LoadRequest =
  | { type: 'load-url'; url: string }
  | { type: 'load-files'; files: File[] }
  | { type: 'generate'; prompt: string; maxNewTokens: number; temperature: number; seed: number };

/** Loading/generating worker → page. */
export type LoadEvent =
  | { type: 'threads'; threads: number; reason: string }
  | { type: 'loaded'; source: string; params: number; summary: string }
  | { type: 'token'; text: string }
  | { type: 'generated'; tokens: number; tokensPerSec: number }
  | { type: 'error'; message: string };
