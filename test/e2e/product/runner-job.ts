// A GitLab CI job as GitLab Runner's SSH executor runs it: one SSH connection, and for each stage
// (prepare_script, get_sources, step_script, after_script, cleanup_file_variables) a new exec
// session of `bash -l` with the stage's generated script on stdin and no pty. The scripts follow
// the runner's bash generator: `set -eo pipefail`, `set +o noclobber`, the job's variables
// exported, each stage's commands run through `: | eval $'...'` (so a command cannot eat the
// rest of the script from stdin), `cd` into <builds_dir>/<token>/<concurrent id>/<project path>.
//
// The project is a real git repository made by the test, served over git's HTTP protocol (the
// "dumb" one: plain files) from this machine's loopback. The container shares the host's
// network, which shares this machine's, as a runner host's containers reach GitLab.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { serveDirectory, type StaticServer } from '../../helpers/http-server.ts';

export const STAGES = ['prepare_script', 'get_sources', 'step_script', 'after_script', 'cleanup_file_variables'] as const;
export type Stage = (typeof STAGES)[number];

/** bash's $'...' quoting, as the runner writes its eval strings. */
export function ansiC(s: string): string {
  return `$'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

export interface JobSpec {
  /** builds_dir from `<name>ctl runner-config`. */
  buildsDir: string;
  repoUrl: string;
  sha: string;
  /** The job's own commands (the .gitlab-ci.yml `script:`) and `after_script:`. */
  script: string[];
  afterScript: string[];
}

export function jobVariables(job: JobSpec, status: 'running' | 'failed' | 'success' = 'running'): Record<string, string> {
  const projectDir = `${job.buildsDir}/t3st-tok/0/group/project`;
  return {
    CI: 'true',
    GITLAB_CI: 'true',
    CI_SERVER: 'yes',
    CI_JOB_ID: '4242',
    CI_JOB_NAME: 'build',
    CI_JOB_STAGE: 'build',
    CI_JOB_STATUS: status,
    CI_PROJECT_PATH: 'group/project',
    CI_PROJECT_DIR: projectDir,
    CI_BUILDS_DIR: job.buildsDir,
    CI_REPOSITORY_URL: job.repoUrl,
    CI_COMMIT_SHA: job.sha,
    CI_COMMIT_REF_NAME: 'main',
    CI_RUNNER_SHORT_TOKEN: 't3st-tok',
    GIT_STRATEGY: 'fetch',
    GIT_TERMINAL_PROMPT: '0',
  };
}

/** The script a stage's session gets on stdin. */
export function stageScript(job: JobSpec, stage: Stage, status: 'running' | 'failed' = 'running'): string {
  const vars = jobVariables(job, status);
  const exports = Object.entries(vars).map(([k, v]) => `export ${k}=${ansiC(v)}`);
  const echoed = (cmds: string[]) => cmds.flatMap((c) => [`echo ${ansiC(`\x1b[32;1m$ ${c}\x1b[0;m`)}`, c]);
  let body: string[];
  switch (stage) {
    case 'prepare_script':
      body = ['echo "Running on $(hostname) via test-runner..."'];
      break;
    case 'get_sources':
      body = [
        'echo "Fetching changes..."',
        'mkdir -p "$CI_PROJECT_DIR.tmp/git-template"',
        'git config -f "$CI_PROJECT_DIR.tmp/git-template/config" fetch.recurseSubmodules false',
        'git init -q "$CI_PROJECT_DIR" --template "$CI_PROJECT_DIR.tmp/git-template"',
        'cd "$CI_PROJECT_DIR"',
        'git remote add origin "$CI_REPOSITORY_URL"',
        'git fetch origin "+refs/heads/*:refs/remotes/origin/*" --prune --quiet',
        'echo "Checking out ${CI_COMMIT_SHA:0:8} as detached HEAD (ref is $CI_COMMIT_REF_NAME)..."',
        'git -c advice.detachedHead=false checkout -f -q "$CI_COMMIT_SHA"',
        'git clean -ffdx',
        'echo "checked out $(git rev-parse HEAD)"',
      ];
      break;
    case 'step_script':
      body = ['cd "$CI_PROJECT_DIR"', ...echoed(job.script)];
      break;
    case 'after_script':
      body = ['cd "$CI_PROJECT_DIR"', 'echo "Running after_script"', ...echoed(job.afterScript)];
      break;
    case 'cleanup_file_variables':
      body = ['rm -rf "$CI_PROJECT_DIR.tmp"', 'echo "cleaned up $CI_PROJECT_DIR.tmp"'];
      break;
  }
  return `#!/usr/bin/env bash\n\nset -eo pipefail\nset +o noclobber\n: | eval ${ansiC(`${[...exports, ...body].join('\n')}\n`)}\nexit 0\n`;
}

export interface ServedRepo {
  url: string;
  sha: string;
  /** Content of src.txt in the commit. */
  content: string;
  close(): Promise<void>;
}

/**
 * A one-commit repository with a build script, bare-cloned and served over git's dumb HTTP on
 * `address` of this machine (loopback, or where a host with a network of its own reaches it).
 */
export async function serveTestRepo(address = '127.0.0.1'): Promise<ServedRepo> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-git-'));
  const src = path.join(work, 'src');
  const content = `made by the e2e test at ${new Date().toISOString()}\n`;
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'src.txt'), content);
  fs.writeFileSync(path.join(src, 'build.sh'), '#!/bin/sh\nset -e\nmkdir -p out\nsha256sum src.txt > out/result.txt\necho "build.sh ran in $(pwd)"\n', {
    mode: 0o755,
  });
  const git = (cwd: string, ...args: string[]) =>
    execa('git', args, {
      cwd,
      env: {
        GIT_AUTHOR_NAME: 'e2e',
        GIT_AUTHOR_EMAIL: 'e2e@example.invalid',
        GIT_COMMITTER_NAME: 'e2e',
        GIT_COMMITTER_EMAIL: 'e2e@example.invalid',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_CONFIG_NOSYSTEM: '1',
      },
    });
  let server: StaticServer | undefined;
  try {
    await git(src, 'init', '-q', '-b', 'main');
    await git(src, 'add', '.');
    await git(src, 'commit', '-q', '-m', 'the project');
    const sha = (await git(src, 'rev-parse', 'HEAD')).stdout.trim();
    const served = path.join(work, 'served');
    fs.mkdirSync(served);
    await git(work, 'clone', '-q', '--bare', src, path.join(served, 'project.git'));
    // The dumb HTTP protocol reads info/refs and objects/info/packs, which this writes.
    await git(path.join(served, 'project.git'), 'update-server-info');
    server = await serveDirectory(served, address);
    const s = server;
    return {
      url: `${s.url}project.git`,
      sha,
      content,
      async close() {
        await s.close();
        fs.rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server?.close();
    fs.rmSync(work, { recursive: true, force: true });
    throw err;
  }
}
