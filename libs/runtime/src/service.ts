import type { Static, TObject } from '@sinclair/typebox';
import type { Bus, BusOptions } from '@wattbus/bus';
import { brokerUrlProblem, BrokerConnectionError, connectBus } from './broker-connection.js';
import {
  EXIT_CODES,
  helpText,
  parseCli,
  UsageError,
  usageLine,
  type CliCommand,
  type CliOption,
  type CliResult,
  type CliSpec,
} from './cli.js';
import { ConfigError, envNames, loadConfig, type LoadConfigOptions } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { serveAdmin, ServiceMetrics, type AdminConfig } from './metrics.js';
import { stopOnSignals } from './shutdown.js';

/** A started service: stop() stops taking work, finishes what is in flight and publishes `ready: false`. */
export interface RunningService {
  stop(): Promise<void>;
}

export interface ServiceContext<C> {
  config: C;
  logger: Logger;
  cli: CliResult;
  /**
   * Bus.connect with the front door's error (URL and cause named; a refused login says "not
   * authorised"). Every bus connected through it is stopped after the service's stop().
   */
  connect: (options: BusOptions) => Promise<Bus>;
  /**
   * The service's Prometheus metrics (labelled service=<name>, with process metrics): the core
   * registers its own; served on `/metrics` at the config's `admin:` keys, when it has them.
   */
  metrics: ServiceMetrics;
}

export interface CommandContext<C> {
  cli: CliResult;
  /** The arguments after the command's name. */
  args: string[];
  /** Loads and checks the configuration (file and environment), for commands that need it. */
  config: () => C;
  /** Silent unless LOG_LEVEL is set: a command prints its own result. */
  logger: Logger;
}

/** A one-shot command of a program (`gateway make-key`, `backup verify <dir>`). */
export interface ServiceCommand<C> {
  summary: string;
  /** The arguments it takes, as shown in --help (`<dir>`); their count is checked. */
  args?: string;
  /** Also chosen by this boolean option (the agent's `--discover`). */
  flag?: string;
  /** Resolves with the exit code (default 0); throws UsageError or ConfigError for exit code 2. */
  run: (context: CommandContext<C>) => Promise<number | void>;
}

export interface ServiceSpec<S extends TObject> {
  /** `query`: program `wattbus-query`, logger name, what errors are prefixed with. */
  name: string;
  summary: string;
  schema: S;
  envPrefix: string;
  /** Options besides --config and --help. */
  options?: Record<string, CliOption>;
  commands?: Record<string, ServiceCommand<Static<S>>>;
  /** The command that runs the service (`run`); without it the service runs when no command is given. */
  serviceCommand?: { name: string; summary: string };
  /** Environment variables it reads besides its config keys and LOG_LEVEL (the platform's INFLUX_URL). */
  environment?: string[];
  /** Examples and where to read more, for --help. */
  epilog?: string;
  /** Validates instead of the schema's validator (the broker, for its own messages). */
  parse?: LoadConfigOptions<S>['parse'];
  /** Applies options that override config keys (the agent's --registry). */
  fromCli?: (config: Static<S>, cli: CliResult) => void;
  /** What the schema cannot say (time zones, cron, rules), before any I/O; throws ConfigError. */
  check?: (config: Static<S>, file: string | undefined) => void;
  /** Other errors that mean "fix the configuration" (exit code 2), e.g. a bad device registry. */
  configErrors?: Array<abstract new (...args: never[]) => Error>;
  /** Makes the service's logger instead of JSON lines to stdout (the platform's console and log files). */
  logger?: (cli: CliResult) => Logger | Promise<Logger>;
  /** How long a stop may take before the process exits anyway. Default 10 s. */
  stopTimeoutMs?: (config: Static<S>) => number;
  start: (context: ServiceContext<Static<S>>) => Promise<RunningService>;
}

/**
 * The front door of every WattBus program: parses the command line (same --help shape and exit
 * codes everywhere), loads and checks the configuration completely before any I/O, makes the
 * logger, connects the bus through `connect` (a failure is one line naming the broker), stops on
 * SIGTERM/SIGINT. Resolves once the service runs (or a command set process.exitCode); any failure
 * is printed as `wattbus-<name>: <message>` and exits with EXIT_CODES.
 */
export async function runService<S extends TObject>(spec: ServiceSpec<S>): Promise<void> {
  const program = `wattbus-${spec.name}`;
  const cliSpec = cliSpecOf(spec, program);
  let logger: Logger | undefined;
  try {
    const cli = parseCli(cliSpec);
    if (cli.help) {
      process.stdout.write(helpText(cliSpec));
      return;
    }
    const file = typeof cli.values.config === 'string' ? cli.values.config : undefined;
    const config = () => loadServiceConfig(spec, file, cli);
    const [name, ...args] = cli.positionals;
    const chosen =
      Object.entries(spec.commands ?? {}).find(([, command]) => command.flag && cli.values[command.flag]) ??
      (name !== undefined && spec.commands?.[name] ? [name, spec.commands[name]] : undefined);
    if (chosen) {
      const [commandName, command] = chosen;
      const commandArgs = chosen[0] === name ? args : cli.positionals;
      const expected = command.args?.split(' ').filter(Boolean).length ?? 0;
      if (commandArgs.length !== expected) {
        throw new UsageError(`usage: ${program} ${commandName}${command.args ? ` ${command.args}` : ''}`);
      }
      logger = createLogger(spec.name, process.env.LOG_LEVEL ?? 'silent');
      process.exitCode = (await command.run({ cli, args: commandArgs, config, logger })) ?? EXIT_CODES.ok;
      return;
    }
    const service = spec.serviceCommand?.name;
    if (service !== undefined && name !== service) {
      const known = [...Object.keys(spec.commands ?? {}), service].join(', ');
      throw new UsageError(
        name === undefined ? `a command is missing: ${known}` : `unknown command '${name}': use ${known}`,
      );
    }
    const extra = service === undefined ? cli.positionals : args;
    if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra.join(' ')}`);
    const loaded = config();
    logger = spec.logger ? await spec.logger(cli) : createLogger(spec.name);
    await startService(spec, { config: loaded, logger, cli });
  } catch (error) {
    const code = exitCodeOf(error, spec);
    const message = error instanceof Error ? error.message : String(error);
    const hint = error instanceof UsageError ? `\n${usageLine(cliSpec)}\nTry '${program} --help'.` : '';
    process.stderr.write(`${program}: ${message}${hint}\n`);
    if (code === EXIT_CODES.failed && !(error instanceof BrokerConnectionError)) {
      logger?.error({ err: error }, message); // the stack, for a failure nobody foresaw
    }
    // Exit even if a failed start left a timer or a socket behind.
    process.exit(code);
  }
}

/** Starts the service with signals handled from the first moment; a failed start stops what it connected. */
async function startService<S extends TObject>(
  spec: ServiceSpec<S>,
  context: Omit<ServiceContext<Static<S>>, 'connect' | 'metrics'>,
): Promise<void> {
  const { config, logger } = context;
  const metrics = new ServiceMetrics(spec.name);
  // Served from the start, so a long start (a log replay) can be watched too.
  const admin = (config as { admin?: AdminConfig }).admin;
  const metricsServer = admin ? await serveAdmin(admin, [metrics.registry], logger) : undefined;
  const buses: Bus[] = [];
  const connect = async (options: BusOptions) => {
    const bus = await connectBus({ logger, ...options });
    buses.push(bus);
    return bus;
  };
  const closeAll = async () => {
    await Promise.all(buses.map((bus) => bus.stop().catch(() => undefined)));
    await metricsServer?.stop();
  };
  const starting = spec.start({ ...context, connect, metrics });
  // A signal during start-up waits for it, then stops what was started.
  stopOnSignals(
    logger,
    async () => {
      const running = await starting.catch(() => undefined);
      await running?.stop();
      await closeAll();
    },
    { timeoutMs: spec.stopTimeoutMs?.(config) ?? 10_000 },
  );
  try {
    await starting;
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function loadServiceConfig<S extends TObject>(
  spec: ServiceSpec<S>,
  file: string | undefined,
  cli: CliResult,
): Static<S> {
  const config = loadConfig({ schema: spec.schema, file, envPrefix: spec.envPrefix, parse: spec.parse });
  spec.fromCli?.(config, cli);
  const url = (config as { mqtt?: { url?: unknown } }).mqtt?.url;
  const problem = typeof url === 'string' ? brokerUrlProblem(url) : undefined;
  if (problem) {
    throw new ConfigError(`invalid configuration${file ? ` in ${file}` : ''}:\n  /mqtt/url: ${problem}`);
  }
  spec.check?.(config, file);
  return config;
}

function exitCodeOf<S extends TObject>(error: unknown, spec: ServiceSpec<S>): number {
  const usage =
    error instanceof UsageError ||
    error instanceof ConfigError ||
    (spec.configErrors ?? []).some((type) => error instanceof type);
  return usage ? EXIT_CODES.usage : EXIT_CODES.failed;
}

function cliSpecOf<S extends TObject>(spec: ServiceSpec<S>, program: string): CliSpec {
  const commands: Record<string, CliCommand> | undefined = spec.commands
    ? Object.fromEntries(
        Object.entries(spec.commands)
          .filter(([, command]) => command.flag === undefined)
          .map(([name, command]) => [name, { args: command.args, summary: command.summary }]),
      )
    : undefined;
  if (commands && spec.serviceCommand)
    commands[spec.serviceCommand.name] = { summary: spec.serviceCommand.summary };
  const keys = envNames(spec.schema, spec.envPrefix, { leaves: true });
  return {
    name: program,
    summary: spec.summary,
    options: {
      ...(keys.length > 0
        ? {
            config: {
              type: 'string',
              short: 'c',
              description: `YAML or JSON config file (optional; ${spec.envPrefix}* variables override it)`,
            },
          }
        : {}),
      ...spec.options,
    },
    commands: commands && Object.keys(commands).length > 0 ? commands : undefined,
    commandRequired: spec.serviceCommand !== undefined,
    environment: [...keys, ...(spec.environment ?? []), 'LOG_LEVEL'],
    epilog: spec.epilog,
  };
}
