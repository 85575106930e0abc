//! The Dockerfile frontend: everything `berth build` decides from the
//! Dockerfile, the build args and the `.dockerignore` before a single file is
//! touched, with BuildKit's semantics (its `frontend/dockerfile/{parser,
//! instructions,shell}`, `dockerfile2llb`'s scoping, and
//! moby/patternmatcher), so that a Dockerfile means in Berth what it means
//! under `docker build`.
//!
//! Pure logic: no daemon state, no I/O beyond the bytes it is given, no async
//! runtime. The builder domain in berthd (`manager/src/builder/`) calls it; so can
//! the CLI (to check a Dockerfile or a `.dockerignore` before sending a
//! context), and tests.
//!
//! # What lives where
//!
//! | module | concept | BuildKit / moby counterpart |
//! |---|---|---|
//! | [`parser`] | text to nodes: lines, continuations, comments, heredocs, JSON vs shell form, `--flags`, per-instruction argument splitting | `frontend/dockerfile/parser` |
//! | [`directives`] | `# escape=`, `# syntax=` (recorded, never used: no frontend image is pulled), `# check=` | `parser/directives.go` |
//! | [`instruction`] | the typed model: one [`instruction::Instruction`] variant per instruction, flags checked, HEALTHCHECK options, COPY/ADD heredoc sources | `frontend/dockerfile/instructions` |
//! | [`mount`] | `RUN --mount` specs, typed (`bind cache tmpfs secret ssh` and their options) | `instructions/commands_runmount.go` |
//! | [`lexer`], [`shell_pattern`] | shell words: quotes, escapes, `$V ${V:-x} ${V#p} ${V/a/b}`... | `frontend/dockerfile/shell` |
//! | [`env`](mod@env) | the ordered variable list expansions read | `llb.EnvList` |
//! | [`stages`] | a [`stages::Dockerfile`] (meta ARGs + stages), the [`stages::StageGraph`]: bases, `--from`, mounts, cycles, `--target`, which stages a target needs | `dockerfile2llb` (stage states) |
//! | [`eval`] | ARG/ENV scoping, predefined and proxy args, which words expand, the image config each stage leaves, its filesystem steps and history | `dockerfile2llb/convert.go` dispatch |
//! | [`dockerignore`] | the ignore file and docker's matcher: `**`, `!`, last match wins, the walker's view | `moby/patternmatcher`, `ignorefile` |
//! | [`error`] | syntax errors with their line, BuildKit's messages | `parser.WithLocation`, `instructions` errors |
//!
//! Errors read as docker 20.10 shows them, `dockerfile parse error line N:
//! <BuildKit's message>`, for syntax errors ([`error::SyntaxError`]) and for
//! what fails while a stage is evaluated ([`eval::EvalError`],
//! [`stages::StageError`]); the line is where the instruction starts.
//!
//! # How the builder will use this
//!
//! The builder is a domain of berthd beside images and containers
//! (`manager/src/builder/`), over the same services; this crate is its front.
//!
//! 1. **Parse and plan.** [`stages::Dockerfile::parse`] the file (its
//!    `.dockerignore` from [`dockerignore::ignore_file_names`]); compute the
//!    global scope with [`eval::global_scope`] from the user's
//!    [`eval::BuildOptions`]; build the [`stages::StageGraph`]; take
//!    [`stages::StageGraph::target`] and [`stages::StageGraph::needed`]: only
//!    those stages are built. Every error up to here is a Dockerfile error:
//!    nothing has been created yet.
//! 2. **Stages become snapshots.** A stage's base is `scratch` (an empty
//!    snapshot), an earlier stage (its last committed snapshot), or an image
//!    (pulled by the images domain; its config becomes the stage's
//!    [`eval::StageStart::from_image`], its top layer the parent snapshot).
//!    Stages whose dependencies are done run in parallel (the graph says which).
//!    [`eval::evaluate_stage`] gives the stage's final image config, history,
//!    and its [`eval::Step`]s; each step that changes files is one
//!    `Snapshotter::prepare` on the previous snapshot, the work, then
//!    `commit`: the overlay upper dir is the layer's diff, no tree walk.
//! 3. **RUN through the Task seam.** A [`eval::Step::Run`] becomes an ordinary
//!    container of the containers domain: its rootfs is the prepared
//!    snapshot, args, env, user, workdir and network from the step (the
//!    default seccomp profile, capabilities and masks as `run`), its
//!    [`mount::Mount`]s turned into OCI mounts (bind from the context or
//!    another stage's snapshot, cache dirs under the build cache, tmpfs,
//!    secrets as files). The containers domain starts it through its `Task`
//!    trait, so the builder's decisions are unit-testable with a fake task,
//!    as the containers domain's are. A non-zero exit fails the build naming
//!    the step's line.
//! 4. **COPY/ADD** read the context through the [`dockerignore::Matcher`]
//!    (a walker enters an excluded directory only when
//!    [`dockerignore::Matcher::may_include_under`] says an exception may
//!    re-include something), resolve every source inside the context root
//!    without following symlinks out (berth-in-root), and write into the
//!    prepared snapshot with `--chown`/`--chmod`.
//! 5. **Cache keys**, content-addressed as BuildKit's, chained: a step's key is
//!    a hash of its parent's key and what the step depends on: for RUN, the
//!    argv, the env, `build_args` of [`eval::Step::Run`] (only the ARGs the stage
//!    declared, as BuildKit's history prefix), user, workdir, network and the
//!    mounts' specs; for COPY/ADD, a checksum of the selected files' content
//!    and metadata (not mtimes) after `.dockerignore` and `--exclude`, plus the
//!    flags; for a base, the image's digest. The metadata-only instructions
//!    change no snapshot and need no key of their own: they are in the final
//!    config. [`lexer::Expansion::matched`] tells which variables a word used.
//! 6. **The image**: the target stage's last snapshot's layers (one per
//!    filesystem step), its [`eval::ImageConfig`] and history entries, tagged.
//!
//! Known gaps, left for the builder or later: ONBUILD triggers of a base are
//! run (and re-parsed) but BuildKit's RUN heredoc execution rules (a `#!`
//! heredoc run as a script, others fed to the shell) are for the builder to
//! apply from the `files` of [`eval::Step::Run`]; EXPOSE ignores an `ip:host:` prefix
//! without validating it; `# check=` is recorded but no lint runs.

pub mod directives;
pub mod dockerignore;
pub mod env;
pub mod error;
pub mod eval;
mod flags;
pub mod instruction;
pub mod lexer;
pub mod mount;
pub mod parser;
pub mod shell_pattern;
pub mod stages;
