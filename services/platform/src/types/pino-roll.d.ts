// pino-roll ships no types: the part of its options this project uses.
declare module 'pino-roll' {
  import type { DestinationStream } from 'pino';

  interface PinoRollOptions {
    file: string;
    size?: string | number;
    frequency?: 'daily' | 'hourly' | number;
    extension?: string;
    symlink?: boolean;
    mkdir?: boolean;
    limit?: { count?: number; removeOtherLogFiles?: boolean };
  }

  interface RollingStream extends DestinationStream {
    flushSync(): void;
    end(): void;
  }

  export default function roll(options: PinoRollOptions): Promise<RollingStream>;
}
