// Readers of the deployment files: docker-compose.yml through Debian's docker-compose (its `config`
// parses, validates and resolves the file; python3-yaml, which docker-compose depends on, turns the
// YAML it prints into JSON), YAML files the same way, the Dockerfile's stages and instructions, and
// .dockerignore's rules.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../lib/repo.mjs';
import { run, runOk } from '../../lib/process.mjs';

const YAML_TO_JSON = 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)';

/** Parse YAML text with PyYAML's safe loader. */
export async function parseYaml(text) {
  return JSON.parse(await runOk('python3', ['-c', YAML_TO_JSON], { input: text }));
}

/** Parse a YAML file of the repository. */
export async function readYaml(...parts) {
  return parseYaml(fs.readFileSync(path.join(REPO_ROOT, ...parts), 'utf8'));
}

/**
 * `docker-compose -f docker-compose.yml [-f OVERRIDE]... [--profile P]... config` of the repository,
 * as { code, stderr, yaml, config }. `files` are further Compose files of the repository's root
 * (docker-compose.cluster.yml ...), merged over docker-compose.yml in that order. The environment
 * holds only PATH and `env`, and an empty env file stands in for a developer's .env, so that the
 * defaults written in the files are what is checked. Debian's docker-compose 1.29 prints every
 * service whatever the profiles; a service's `profiles` says when it runs.
 */
export async function composeConfig({ profiles = [], env = {}, args = [], files = [] } = {}) {
  const envFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cacheme-compose-')), 'empty.env');
  fs.writeFileSync(envFile, '');
  try {
    const argv = ['--project-directory', REPO_ROOT];
    for (const f of ['docker-compose.yml', ...files]) argv.push('-f', path.join(REPO_ROOT, f));
    argv.push('--env-file', envFile);
    for (const p of profiles) argv.push('--profile', p);
    argv.push('config', ...args);
    const r = await run('docker-compose', argv, { env: { PATH: process.env.PATH, HOME: os.tmpdir(), ...env } });
    const result = { code: r.code, stderr: r.stderr, yaml: r.stdout, config: undefined };
    if (r.code === 0 && args.length === 0) result.config = await parseYaml(r.stdout);
    return result;
  } finally {
    fs.rmSync(path.dirname(envFile), { recursive: true, force: true });
  }
}

/**
 * The Dockerfile as a list of stages { from, name, instructions: [{ op, args, line }] }, with line
 * continuations joined and comments dropped. ARG defaults given before the first FROM are
 * substituted into FROM lines.
 */
export function parseDockerfile(text) {
  const logical = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!current && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (current && line.trim().startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    logical.push(current.trim().replace(/\s+/g, ' '));
    current = '';
  }
  const globalArgs = {};
  const stages = [];
  for (const line of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const args = m[2];
    if (op === 'ARG' && stages.length === 0) {
      const [name, value] = args.split('=');
      globalArgs[name] = value;
      continue;
    }
    if (op === 'FROM') {
      const from = args.replace(/\$\{(\w+)\}/g, (_, n) => globalArgs[n] ?? '');
      const fm = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(from);
      stages.push({ from: fm[1], name: fm[2] ?? null, instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push({ op, args, line });
  }
  return { globalArgs, stages };
}

/** The Debian packages an `apt-get install` RUN line installs (options and && chains aside). */
export function aptPackages(runArgs) {
  const m = /apt-get install ([^&]*)/.exec(runArgs);
  if (!m) return [];
  return m[1].split(/\s+/).filter((w) => w && !w.startsWith('-'));
}

/** COPY instructions without --from: [{ sources: [...], dest }]. */
export function contextCopies(stage) {
  return stage.instructions
    .filter((i) => (i.op === 'COPY' || i.op === 'ADD') && !/--from=/.test(i.args))
    .map((i) => {
      const words = i.args.split(' ').filter((w) => !w.startsWith('--'));
      return { sources: words.slice(0, -1), dest: words.at(-1) };
    });
}

/**
 * .dockerignore as a predicate: included(relativePath) → boolean. Supports what the file uses:
 * comments, `*`, plain paths (a directory's pattern covers what is inside it), `!` exceptions, and
 * the last matching rule wins, as in Docker.
 */
export function dockerignore(text) {
  const rules = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = (negate ? line.slice(1) : line).replace(/\/+$/, '').replace(/^\/+/, '');
    const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
    rules.push({ negate, re });
  }
  return (rel) => {
    const parts = rel.split('/');
    let included = true;
    for (const { negate, re } of rules) {
      // The rule matches the path or one of its parent directories.
      for (let i = 1; i <= parts.length; i++) {
        if (re.test(parts.slice(0, i).join('/'))) {
          included = negate;
          break;
        }
      }
    }
    return included;
  };
}
