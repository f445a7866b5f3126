import type { LiveEvent } from '@wattbus/contracts';
import type { Api } from './api.js';
import type { LiveStream } from './live.js';

export interface PageContext {
  api: Api;
  live: LiveStream;
  /** The key has the control scope: relay switches are shown (the gateway checks it anyway). */
  canControl: boolean;
  /** Where the page renders; emptied between pages. */
  root: HTMLElement;
}

/** One view of the dashboard: start() renders and loads, stop() drops timers and requests. */
export interface Page {
  readonly title: string;
  start(): Promise<void>;
  stop(): void;
  onEvent?(event: LiveEvent): void;
  /** The event stream dropped and came back: read the current state again. */
  onReconnect?(): void;
}
