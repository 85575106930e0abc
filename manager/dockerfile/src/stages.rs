//! Stages and the graph between them, as BuildKit's `dockerfile2llb` builds
//! it.
//!
//! * A [`Dockerfile`] is the ARGs before the first FROM (the global, "meta"
//!   ARGs, the only variables FROM can use) and the stages, each a FROM and
//!   the instructions up to the next FROM.
//! * A stage's base ([`Base`]) is `scratch`, an earlier stage named by its
//!   `AS` name (exactly as expanded: `FROM Build` is an image, stage names are
//!   lower-case), or an image.
//! * A stage depends on its base, on every `COPY --from=` (a stage name, any
//!   case, or a stage index; anything else is an image) and on every
//!   `RUN --mount=from=` (a stage name or an image). `--from` never expands:
//!   BuildKit refuses a `$` there. A stage may copy from a later stage (by
//!   name or index), so the graph is checked for cycles.
//! * The target is the last stage unless `--target` names one; only the
//!   stages it reaches are built ([`StageGraph::needed`], in an order where
//!   each comes after what it needs, so independent stages can run in
//!   parallel).

use std::collections::BTreeSet;

use crate::directives::Directives;
use crate::env::{EnvList, NoEnv};
use crate::error::{SyntaxError, SyntaxErrorKind};
use crate::instruction::{self, ArgDecl, From, Instruction, Statement};
use crate::lexer::{ExpandError, Lexer};
use crate::parser::{self, Warning};

/// A parsed and typed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The parser directives.
    pub directives: Directives,
    /// The escape token in force.
    pub escape: char,
    /// The ARGs before the first FROM, with their lines.
    pub meta_args: Vec<(usize, Vec<ArgDecl>)>,
    /// The stages in order.
    pub stages: Vec<Stage>,
    /// Parser warnings.
    pub warnings: Vec<Warning>,
}

/// One stage: a FROM and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position in the file (what `COPY --from=0` refers to).
    pub index: usize,
    /// The FROM.
    pub from: From,
    /// The FROM's line.
    pub line: usize,
    /// The FROM's text.
    pub source: String,
    /// The instructions after the FROM.
    pub statements: Vec<Statement>,
}

impl Stage {
    /// `AS name`, or `stage-N` as BuildKit names an anonymous stage.
    pub fn display_name(&self) -> String {
        self.from
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

impl Dockerfile {
    /// Parses and types a Dockerfile's bytes.
    pub fn parse(source: &[u8]) -> Result<Self, SyntaxError> {
        let ast = parser::parse(source)?;
        let mut meta_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for node in &ast.nodes {
            let at = |kind| SyntaxError {
                line: node.start_line,
                kind,
            };
            let instruction = instruction::from_node(node).map_err(at)?;
            match instruction {
                Instruction::Arg(decls) if stages.is_empty() => {
                    meta_args.push((node.start_line, decls))
                }
                Instruction::From(from) => stages.push(Stage {
                    index: stages.len(),
                    from,
                    line: node.start_line,
                    source: node.original.trim().to_string(),
                    statements: Vec::new(),
                }),
                instruction => {
                    let stage = stages
                        .last_mut()
                        .ok_or_else(|| at(SyntaxErrorKind::NoStage))?;
                    stage.statements.push(Statement {
                        line: node.start_line,
                        end_line: node.end_line,
                        source: node.original.clone(),
                        instruction,
                    });
                }
            }
        }
        if stages.is_empty() {
            // Only ARGs: BuildKit fails the same way when it looks for a stage.
            let line = ast.nodes.last().map_or(1, |n| n.start_line);
            return Err(SyntaxError {
                line,
                kind: SyntaxErrorKind::NoStage,
            });
        }
        Ok(Self {
            directives: ast.directives,
            escape: ast.escape,
            meta_args,
            stages,
            warnings: ast.warnings,
        })
    }

    /// The stage `name` refers to (case-insensitive), if any.
    pub fn stage_by_name(&self, name: &str) -> Option<usize> {
        let name = name.to_lowercase();
        self.stages
            .iter()
            .position(|s| s.from.name.as_deref() == Some(name.as_str()))
    }
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty filesystem and config.
    Scratch,
    /// An earlier stage.
    Stage(usize),
    /// An image reference (to be resolved and pulled).
    Image(String),
}

/// What a COPY --from or RUN --mount from= refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A stage of this Dockerfile.
    Stage(usize),
    /// An image.
    Image(String),
}

/// A stage in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageNode {
    /// The base, FROM expanded with the global ARGs.
    pub base: Base,
    /// `--platform` of FROM, expanded with the global ARGs.
    pub platform: Option<String>,
    /// The stages and images its instructions read, in order, with the line
    /// of the instruction.
    pub sources: Vec<(usize, Source)>,
}

/// The graph of a Dockerfile's stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageGraph {
    /// One node per stage, by index.
    pub nodes: Vec<StageNode>,
}

/// Why the stages cannot be put together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// FROM or its platform does not expand.
    #[error("dockerfile parse error line {line}: {source}")]
    Expand {
        /// The FROM's line.
        line: usize,
        /// The expansion error.
        source: ExpandError,
    },
    /// FROM expands to nothing.
    #[error("dockerfile parse error line {line}: base name ({base}) should not be blank")]
    BlankBase {
        /// The FROM's line.
        line: usize,
        /// The FROM's base as written.
        base: String,
    },
    /// `--platform=$P` with P empty.
    #[error(
        "dockerfile parse error line {line}: empty platform value from expression {expression}"
    )]
    BlankPlatform {
        /// The FROM's line.
        line: usize,
        /// As written.
        expression: String,
    },
    /// `COPY --from=$X`.
    #[error("dockerfile parse error line {line}: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")]
    FromExpansion {
        /// The COPY's line.
        line: usize,
    },
    /// `COPY --from=7` with fewer stages.
    #[error("dockerfile parse error line {line}: invalid stage index {index}")]
    StageIndex {
        /// The COPY's line.
        line: usize,
        /// The index.
        index: i64,
    },
    /// `RUN --mount=from=later`.
    #[error("dockerfile parse error line {line}: cannot mount from stage \"{stage}\" to \"{target}\", stage needs to be defined before current command")]
    MountFromLater {
        /// The RUN's line.
        line: usize,
        /// The stage.
        stage: String,
        /// The mount's target.
        target: String,
    },
    /// Stages that need each other.
    #[error("circular dependency detected on stage: {0}")]
    Cycle(String),
    /// `--target` names no stage.
    #[error("target stage \"{0}\" could not be found")]
    UnknownTarget(String),
}

impl StageGraph {
    /// Builds the graph; `global` is the global ARG scope
    /// ([`crate::eval::global_scope`]).
    pub fn new(df: &Dockerfile, global: &EnvList) -> Result<Self, StageError> {
        let lex = Lexer::new(df.escape);
        let mut nodes = Vec::with_capacity(df.stages.len());
        for stage in &df.stages {
            let line = stage.line;
            let base_name = lex
                .process_word(&stage.from.base, global)
                .map_err(|source| StageError::Expand { line, source })?;
            if base_name.is_empty() {
                return Err(StageError::BlankBase {
                    line,
                    base: stage.from.base.clone(),
                });
            }
            // FROM refers to an earlier stage by its exact (lower-case) name.
            let base = if let Some(i) = df.stages[..stage.index]
                .iter()
                .position(|s| s.from.name.as_deref() == Some(base_name.as_str()))
            {
                Base::Stage(i)
            } else if base_name == "scratch" {
                Base::Scratch
            } else {
                Base::Image(base_name)
            };
            let platform = match &stage.from.platform {
                None => None,
                Some(p) => {
                    let v = lex
                        .process_word(p, global)
                        .map_err(|source| StageError::Expand { line, source })?;
                    if v.is_empty() {
                        return Err(StageError::BlankPlatform {
                            line,
                            expression: p.clone(),
                        });
                    }
                    Some(v)
                }
            };
            let mut sources = Vec::new();
            for st in &stage.statements {
                match &st.instruction {
                    Instruction::Copy(c) if !c.from.is_empty() => {
                        if lex.process_word(&c.from, &NoEnv).ok().as_deref()
                            != Some(c.from.as_str())
                        {
                            return Err(StageError::FromExpansion { line: st.line });
                        }
                        let source = match c.from.parse::<i64>() {
                            Ok(index) => {
                                if index < 0 || index as usize >= df.stages.len() {
                                    return Err(StageError::StageIndex {
                                        line: st.line,
                                        index,
                                    });
                                }
                                Source::Stage(index as usize)
                            }
                            Err(_) => match df.stage_by_name(&c.from) {
                                Some(i) => Source::Stage(i),
                                None => Source::Image(c.from.clone()),
                            },
                        };
                        sources.push((st.line, source));
                    }
                    Instruction::Run(r) => {
                        for spec in &r.mount_specs {
                            let Ok(m) = crate::mount::parse_mount(spec, None) else {
                                continue;
                            };
                            if m.from.is_empty() {
                                continue;
                            }
                            let source = match df.stage_by_name(&m.from) {
                                Some(i) if i >= stage.index => {
                                    // The target as written (it is expanded only later).
                                    let verbatim = |s: &str| -> Result<String, ExpandError> {
                                        Ok(s.to_string())
                                    };
                                    let target = crate::mount::parse_mount(spec, Some(&verbatim))
                                        .map(|m| m.target)
                                        .unwrap_or_default();
                                    return Err(StageError::MountFromLater {
                                        line: st.line,
                                        stage: m.from,
                                        target,
                                    });
                                }
                                Some(i) => Source::Stage(i),
                                None => Source::Image(m.from),
                            };
                            sources.push((st.line, source));
                        }
                    }
                    _ => {}
                }
            }
            nodes.push(StageNode {
                base,
                platform,
                sources,
            });
        }
        let graph = Self { nodes };
        graph.check_cycles(df)?;
        Ok(graph)
    }

    /// The stages `index` needs directly.
    pub fn deps(&self, index: usize) -> Vec<usize> {
        let node = &self.nodes[index];
        let mut deps = Vec::new();
        if let Base::Stage(b) = node.base {
            deps.push(b);
        }
        for (_, s) in &node.sources {
            if let Source::Stage(i) = s {
                if !deps.contains(i) {
                    deps.push(*i);
                }
            }
        }
        deps
    }

    fn check_cycles(&self, df: &Dockerfile) -> Result<(), StageError> {
        // 0: unvisited, 1: on the current path, 2: done.
        fn visit(
            g: &StageGraph,
            df: &Dockerfile,
            i: usize,
            state: &mut [u8],
        ) -> Result<(), StageError> {
            match state[i] {
                1 => return Err(StageError::Cycle(df.stages[i].display_name())),
                2 => return Ok(()),
                _ => {}
            }
            state[i] = 1;
            for d in g.deps(i) {
                visit(g, df, d, state)?;
            }
            state[i] = 2;
            Ok(())
        }
        let mut state = vec![0u8; self.nodes.len()];
        for i in 0..self.nodes.len() {
            visit(self, df, i, &mut state)?;
        }
        Ok(())
    }

    /// The stage `--target` names (any case), or the last stage.
    pub fn target(df: &Dockerfile, target: Option<&str>) -> Result<usize, StageError> {
        match target {
            None | Some("") => Ok(df.stages.len() - 1),
            Some(name) => df
                .stage_by_name(name)
                .ok_or_else(|| StageError::UnknownTarget(name.to_string())),
        }
    }

    /// The stages `target` needs, itself included, each after the stages it
    /// depends on; stages it does not reach are left out.
    pub fn needed(&self, target: usize) -> Vec<usize> {
        fn walk(g: &StageGraph, i: usize, seen: &mut BTreeSet<usize>, order: &mut Vec<usize>) {
            if !seen.insert(i) {
                return;
            }
            for d in g.deps(i) {
                walk(g, d, seen, order);
            }
            order.push(i);
        }
        let mut order = Vec::new();
        walk(self, target, &mut BTreeSet::new(), &mut order);
        order
    }
}

#[cfg(test)]
mod tests;
