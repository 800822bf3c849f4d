import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { RunReport } from "./simulator.js";

/**
 * Deliberate protocol bugs, for measuring what the simulator catches. A mutation is a text edit
 * applied to a temporary copy of `host/consensus` and `test/sim` (never to the real sources), so
 * production code carries no switch, hook or cost for it. When the code an edit targets changes,
 * the edit no longer applies and `createMutant` says so: update the edit here.
 */
export interface Mutation {
  readonly name: string;
  /** The protocol rule the bug breaks. */
  readonly rule: string;
  readonly bug: string;
  /** Alternative edit sets (for code that moved between versions); the first that applies wins. */
  readonly variants: readonly (readonly Edit[])[];
}

/** Replace the one occurrence of `find` in `file` (relative to the repository root). */
export interface Edit {
  readonly file: string;
  readonly find: string;
  readonly replace: string;
}

const REPLICA = "host/consensus/core/replica.ts";
const PREPARE = "host/consensus/core/prepare.ts";
const CONFIG = "host/consensus/core/config.ts";
const ENGINE = "host/consensus/engine/multi-paxos-engine.ts";
const DRIVER = "host/consensus/engine/driver.ts";
const SEND_ALL =
  "for (const message of ready.messages) {\n      this.options.transport.send(message);\n    }\n";

export const MUTATIONS: readonly Mutation[] = [
  {
    name: "accept-below-promise",
    rule: "ballot order",
    bug: "an acceptor accepts phase-2 messages (accept, heartbeat) below the ballot it promised",
    variants: [
      [{ file: REPLICA, find: "    if (ballot < this.promised) {", replace: "    if (false) {" }],
    ],
  },
  {
    name: "promise-lowered",
    rule: "ballot order",
    bug: "an acceptor takes any prepare's ballot as its promise, even a lower one",
    variants: [
      [
        {
          file: REPLICA,
          find: "    if (message.ballot < this.promised) {\n      this.nack(message.from);",
          replace: "    if (false) {\n      this.nack(message.from);",
        },
        {
          file: REPLICA,
          find: "    if (message.ballot > this.promised) {\n      this.promised = message.ballot;",
          replace:
            "    if (message.ballot !== this.promised) {\n      this.promised = message.ballot;",
        },
      ],
    ],
  },
  {
    name: "even-quorum-half",
    rule: "quorum size",
    bug: "a quorum is half the members (2 of 4: two disjoint quorums in even-sized clusters)",
    variants: [
      [
        {
          file: CONFIG,
          find: "return Math.floor(config.members.length / 2) + 1;",
          replace: "return Math.ceil(config.members.length / 2);",
        },
      ],
    ],
  },
  {
    name: "send-before-persist",
    rule: "persist before reply",
    bug: "the driver sends a Ready's messages (promises, accepteds) before persisting it",
    variants: [
      [
        {
          file: DRIVER,
          find: "    const ready = core.ready();\n",
          replace: `    const ready = core.ready();\n    ${SEND_ALL}`,
        },
        {
          file: DRIVER,
          find: `    ${SEND_ALL}    if (ready.snapshot !== undefined) {`,
          replace: "    if (ready.snapshot !== undefined) {",
        },
      ],
      [
        {
          file: ENGINE,
          find: "    // 1. Persist: nothing may be sent that promises state not yet durable.\n",
          replace: `    ${SEND_ALL}`,
        },
        { file: ENGINE, find: `    // 2. Send.\n    ${SEND_ALL}`, replace: "" },
      ],
    ],
  },
  {
    name: "commit-stale-acks",
    rule: "commit only from acks at the leader's own ballot",
    bug: "a leader counts accepted replies of any ballot (one of its earlier leaderships) toward a quorum",
    variants: [
      [
        {
          file: REPLICA,
          find: 'if (this.roleValue !== "leader" || ballot !== this.ownBallot) {',
          replace: 'if (this.roleValue !== "leader") {',
        },
      ],
    ],
  },
  {
    name: "follower-commit-any-ballot",
    rule: "commit only from acks at the leader's own ballot",
    bug: "a follower marks a slot chosen from the leader's commit index whatever ballot it holds the slot at",
    variants: [
      [
        {
          file: REPLICA,
          find: "if (entry === undefined || entry.ballot !== ballot) {",
          replace: "if (entry === undefined) {",
        },
      ],
    ],
  },
  {
    name: "snapshot-drops-accepted",
    rule: "snapshot install keeps newer accepted slots",
    bug: "installing a snapshot also forgets the accepted slots above it",
    variants: [
      [
        {
          file: REPLICA,
          find: "    this.log.compactThrough(snapshot.index);\n",
          replace:
            "    this.log.compactThrough(snapshot.index);\n    this.log = new SlotLog(snapshot.index, []);\n",
        },
      ],
    ],
  },
  {
    name: "phase1-first-chunk",
    rule: "phase 1 complete only with every chunk",
    bug: "an acceptor's phase-1 report counts as complete after its first chunk",
    variants: [
      [
        {
          file: PREPARE,
          find: "const complete = index > lastIndex;",
          replace: "const complete = true;",
        },
      ],
    ],
  },
  {
    name: "promise-not-persisted",
    rule: "promise persisted",
    bug: "a raised promise is persisted only when the commit index changes too",
    variants: [
      [
        {
          file: REPLICA,
          find: "      this.persistedHardState.promisedBallot !== this.promised ||\n",
          replace: "",
        },
      ],
    ],
  },
  {
    name: "recovery-noops",
    rule: "phase 1 recovers accepted values",
    bug: "a new leader re-proposes no-ops instead of the values phase 1 recovered",
    variants: [
      [
        {
          file: REPLICA,
          find: "value: slot?.value ?? NOOP",
          replace: "value: NOOP",
        },
      ],
    ],
  },
  {
    name: "recovery-lowest-ballot",
    rule: "phase 1 recovers accepted values",
    bug: "phase 1 keeps the value accepted at the lowest ballot instead of the highest",
    variants: [
      [
        {
          file: PREPARE,
          find: "entry.ballot > known.ballot",
          replace: "entry.ballot < known.ballot",
        },
      ],
    ],
  },
];

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Inside the repository, so the copies resolve `node_modules`; ignored by git. */
const MUTANTS_DIR = join(ROOT, ".sim-mutants");

/** A mutated copy of the consensus code and the simulator. */
export interface Mutant {
  readonly dir: string;
  /** The mutant's `runSeed`. */
  runSeed(seed: number): Promise<RunReport>;
  remove(): void;
}

/**
 * Copies the consensus code and the simulator (with its tests if `tests`) and what the simulator
 * imports, then mutates the consensus code.
 */
function copyMutated(mutation: Mutation, tests: boolean): string {
  mkdirSync(MUTANTS_DIR, { recursive: true });
  const dir = mkdtempSync(join(MUTANTS_DIR, `${mutation.name}-`));
  try {
    cpSync(join(ROOT, "host/consensus"), join(dir, "host/consensus"), { recursive: true });
    // The simulated game sessions run the console's sessions part on the runtime, with the
    // counter cartridge of the test fixtures: unmutated, but beside the mutated consensus.
    for (const unmutated of ["host/replication", "host/runtime", "test/fixtures"]) {
      cpSync(join(ROOT, unmutated), join(dir, unmutated), { recursive: true });
    }
    cpSync(join(ROOT, "test/sim"), join(dir, "test/sim"), {
      recursive: true,
      filter: (source) => tests || !source.endsWith(".test.ts"),
    });
    applyMutation(dir, mutation);
    return dir;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Runs the scripted scenario test files (`test/sim/...`) against `mutation` in a child vitest;
 * returns the files that fail (catch the bug). For the CLI's measurements, not for CI.
 */
export function scenariosCatching(mutation: Mutation, files: readonly string[]): string[] {
  const dir = copyMutated(mutation, true);
  try {
    writeFileSync(
      join(dir, "vitest.config.ts"),
      'export default { test: { include: ["test/**/*.test.ts"] } };\n',
    );
    const failing: string[] = [];
    for (const file of files) {
      const result = spawnSync("npx", ["vitest", "run", "--root", dir, file], {
        cwd: ROOT,
        encoding: "utf8",
      });
      if (result.status !== 0) {
        failing.push(file);
      }
    }
    return failing;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Copies the sources, applies `mutation` and loads the mutant's simulator. */
export async function createMutant(mutation: Mutation): Promise<Mutant> {
  const dir = copyMutated(mutation, false);
  try {
    const url = pathToFileURL(join(dir, "test/sim/simulator.ts")).href;
    const simulator = (await import(url)) as {
      runSeed(seed: number): RunReport | Promise<RunReport>;
    };
    return {
      dir,
      runSeed: async (seed) => simulator.runSeed(seed),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Why `mutation` no longer applies to the sources in the repository, or undefined if it does. */
export function mutationProblem(mutation: Mutation): string | undefined {
  try {
    mutatedFiles(ROOT, mutation);
    return undefined;
  } catch (error) {
    return String(error);
  }
}

function applyMutation(dir: string, mutation: Mutation): void {
  for (const [file, text] of mutatedFiles(dir, mutation)) {
    writeFileSync(join(dir, file), text);
  }
}

/** The mutated contents of the files `mutation` edits under `dir` (nothing is written). */
function mutatedFiles(dir: string, mutation: Mutation): Map<string, string> {
  const problems: string[] = [];
  for (const edits of mutation.variants) {
    const contents = new Map<string, string>();
    const misses: string[] = [];
    for (const edit of edits) {
      let text: string;
      try {
        text = contents.get(edit.file) ?? readFileSync(join(dir, edit.file), "utf8");
      } catch {
        misses.push(`${edit.file} does not exist`);
        continue;
      }
      const count = text.split(edit.find).length - 1;
      if (count !== 1) {
        misses.push(
          `${JSON.stringify(edit.find.slice(0, 60))} occurs ${count} times in ${edit.file}`,
        );
        continue;
      }
      contents.set(
        edit.file,
        text.replace(edit.find, () => edit.replace),
      );
    }
    if (misses.length === 0) {
      return contents;
    }
    problems.push(misses.join("; "));
  }
  throw new Error(
    `mutation ${mutation.name} no longer applies (update test/sim/mutations.ts): ${problems.join(" | ")}`,
  );
}

/** What a mutation's run over some seeds found. */
export interface Detection {
  readonly mutation: string;
  readonly seeds: number;
  readonly caught: number;
  readonly firstCaughtSeed: number | undefined;
  /** The first failure of the first catching seed. */
  readonly firstFailure: string | undefined;
}

/**
 * Runs `seeds` against `mutation`; with `stopAtFirst`, only until one seed catches it. A seed
 * catches the bug when any check fails (a crash of the mutated code counts: it is caught too).
 */
export async function measure(
  mutation: Mutation,
  seeds: readonly number[],
  stopAtFirst: boolean,
): Promise<Detection> {
  const mutant = await createMutant(mutation);
  try {
    let caught = 0;
    let run = 0;
    let firstCaughtSeed: number | undefined;
    let firstFailure: string | undefined;
    for (const seed of seeds) {
      run += 1;
      let failure: string | undefined;
      try {
        const report = await mutant.runSeed(seed);
        failure = report.ok ? undefined : report.failures[0];
      } catch (error) {
        failure = `threw: ${String(error)}`;
      }
      if (failure !== undefined) {
        caught += 1;
        firstCaughtSeed ??= seed;
        firstFailure ??= failure;
        if (stopAtFirst) {
          break;
        }
      }
    }
    return { mutation: mutation.name, seeds: run, caught, firstCaughtSeed, firstFailure };
  } finally {
    mutant.remove();
  }
}
