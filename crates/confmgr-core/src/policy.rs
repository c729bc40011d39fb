//! ACL policies in Vault's syntax and Vault's evaluation rules.
//!
//! A [`Policy`] is parsed from Vault HCL (or Vault's JSON form):
//!
//! ```hcl
//! path "secret/data/app/*" {
//!   capabilities = ["read", "list"]
//! }
//! ```
//!
//! Many policies are merged into an [`Acl`], which answers "what may this token do at this
//! path" the way Vault does:
//!
//! * Deny by default: a path no rule matches grants nothing.
//! * Path patterns are exact (`secret/data/app/db`), a prefix glob (`secret/data/app/*`, `*`
//!   only as the last character) or contain `+` segments (`secret/data/+/db`), each `+`
//!   standing for exactly one path segment; `+` patterns may also end in `*`.
//! * Rules with the same pattern, from one or many policies, are merged: capabilities are
//!   unioned, and a `deny` in any of them makes the merged rule deny everything.
//! * For a request path an exact rule wins outright. Otherwise the single highest-priority
//!   matching glob/`+` rule applies (Vault's documented priority order, see [`Acl`]); less
//!   specific rules are not consulted, so a more specific allow beats a broader deny and a
//!   more specific deny beats a broader allow.
//! * The built-in `root` policy allows everything, `sudo` included.

use crate::ValidationError;
use hcl::edit::expr::Expression;
use hcl::edit::structure::{Attribute, Block, Body, Structure};
use hcl::edit::Span;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;

/// The name of the built-in policy that allows everything. It cannot be written.
pub const ROOT_POLICY: &str = "root";

/// The name of the built-in policy every token gets unless created with `no_default_policy`
/// (migration 0009 stores its text: a token may look up, renew and revoke itself and ask
/// what it may do). It can be edited but not deleted, as in Vault.
pub const DEFAULT_POLICY: &str = "default";

/// A token's policy names as Vault keeps them: trimmed, lowercased, without empties or
/// repeats, sorted; `default` added unless `no_default` or the list holds `root`, and a list
/// holding `root` is just `root`.
pub fn token_policies(names: &[String], no_default: bool) -> Vec<String> {
    let mut set: BTreeSet<String> = names
        .iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if set.contains(ROOT_POLICY) {
        return vec![ROOT_POLICY.to_owned()];
    }
    if !no_default {
        set.insert(DEFAULT_POLICY.to_owned());
    }
    set.into_iter().collect()
}

/// Longest policy name accepted, in characters.
pub const MAX_POLICY_NAME_LEN: usize = 128;

/// What a policy rule may grant at a path. `Deny` is not a permission: a rule holding it
/// grants nothing, and [`Acl::allows`] never reports it as allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    Create,
    Read,
    Update,
    Patch,
    Delete,
    List,
    Sudo,
    Deny,
}

impl Capability {
    /// Every capability, in declaration order.
    pub const ALL: [Capability; 8] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
    ];

    /// The capabilities that can be granted (all but `Deny`); what `root` has everywhere.
    pub const GRANTABLE: [Capability; 7] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
        }
    }

    /// Parses a capability name exactly as Vault spells it (lowercase).
    pub fn parse(s: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of capabilities as a bitmap, normalised the Vault way: a set holding `Deny`
/// holds nothing else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CapSet(u8);

impl CapSet {
    const DENY: CapSet = CapSet(1 << (Capability::Deny as u8));

    fn from_caps(caps: impl IntoIterator<Item = Capability>) -> CapSet {
        let bits = caps.into_iter().fold(0u8, |acc, c| acc | c.bit());
        CapSet(bits).normalized()
    }

    fn normalized(self) -> CapSet {
        if self.is_deny() {
            CapSet::DENY
        } else {
            self
        }
    }

    fn is_deny(self) -> bool {
        self.0 & CapSet::DENY.0 != 0
    }

    /// Vault's merge of two rules for the same pattern: union, with `deny` absorbing all.
    fn merge(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0).normalized()
    }

    fn contains(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }

    fn to_set(self) -> BTreeSet<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|c| self.contains(*c))
            .collect()
    }

    /// What the rule grants: nothing when it denies.
    fn granted(self) -> BTreeSet<Capability> {
        if self.is_deny() {
            BTreeSet::new()
        } else {
            self.to_set()
        }
    }
}

/// A parsed path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    /// The pattern as written, less one leading `/`; the key rules are merged on.
    raw: String,
    kind: PatternKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PatternKind {
    /// No wildcard: matches one path.
    Exact,
    /// Ends in `*`, no `+` segment: a plain string-prefix match on `stem`.
    Prefix { stem: String },
    /// Has `+` segments, maybe ends in `*`. `stem` is `raw` without the trailing `*`.
    Segments {
        stem: String,
        parts: Vec<String>,
        is_prefix: bool,
        first_wildcard: usize,
        wildcards: usize,
    },
}

/// Vault's priority key for non-exact patterns: the greatest key wins. The components are,
/// in order, Vault's documented rules: a later first wildcard/glob is higher priority; not
/// ending in `*` is higher; fewer `+` segments is higher; longer is higher; lexicographically
/// greater is higher.
type PriorityKey<'a> = (usize, bool, Reverse<usize>, usize, &'a str);

impl Pattern {
    fn parse(written: &str) -> Result<Pattern, String> {
        // Vault strips one leading '/': policy paths start after the `/v1/` of the API path.
        let raw = written.strip_prefix('/').unwrap_or(written);
        if raw.is_empty() {
            return Err("path pattern is empty".to_owned());
        }
        if raw.contains("{{") {
            return Err("templated policy paths ('{{identity...}}') are not supported".to_owned());
        }
        if raw.chars().any(char::is_control) {
            return Err("path pattern contains a control character".to_owned());
        }
        if raw.contains("+*") {
            return Err("invalid use of wildcards ('+*' is forbidden)".to_owned());
        }
        let (stem, is_prefix) = match raw.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (raw, false),
        };
        if stem.contains('*') {
            return Err("the glob '*' is only allowed as the last character of a path".to_owned());
        }
        let parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
        let wildcards = parts.iter().filter(|p| *p == "+").count();
        let kind = if wildcards > 0 {
            // Byte offset of the first `+` segment.
            let mut offset = 0;
            let mut first_wildcard = 0;
            for part in &parts {
                if part == "+" {
                    first_wildcard = offset;
                    break;
                }
                offset += part.len() + 1;
            }
            PatternKind::Segments {
                stem: stem.to_owned(),
                parts,
                is_prefix,
                first_wildcard,
                wildcards,
            }
        } else if is_prefix {
            PatternKind::Prefix {
                stem: stem.to_owned(),
            }
        } else {
            PatternKind::Exact
        };
        Ok(Pattern {
            raw: raw.to_owned(),
            kind,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            PatternKind::Exact => self.raw == path,
            PatternKind::Prefix { stem } => path.starts_with(stem.as_str()),
            PatternKind::Segments {
                parts, is_prefix, ..
            } => segments_match(parts, *is_prefix, path),
        }
    }

    /// `None` for exact patterns, which never compete on priority.
    fn priority(&self) -> Option<PriorityKey<'_>> {
        match &self.kind {
            PatternKind::Exact => None,
            PatternKind::Prefix { stem } => {
                Some((stem.len(), false, Reverse(0), stem.len(), stem.as_str()))
            }
            PatternKind::Segments {
                stem,
                is_prefix,
                first_wildcard,
                wildcards,
                ..
            } => Some((
                *first_wildcard,
                !*is_prefix,
                Reverse(*wildcards),
                stem.len(),
                stem.as_str(),
            )),
        }
    }
}

/// Vault's segment-wildcard match: `+` matches any one segment; other segments match
/// literally, except that in a prefix pattern the last one need only be a prefix of the
/// path's segment and any further segments are free.
fn segments_match(parts: &[String], is_prefix: bool, path: &str) -> bool {
    let path_parts: Vec<&str> = path.split('/').collect();
    if path_parts.len() < parts.len() || (!is_prefix && path_parts.len() != parts.len()) {
        return false;
    }
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .zip(&path_parts)
        .enumerate()
        .all(|(i, (part, seg))| {
            part == "+" || part == seg || (is_prefix && i == last && seg.starts_with(part.as_str()))
        })
}

/// One `path` block of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRule {
    pattern: Pattern,
    caps: CapSet,
}

impl PathRule {
    /// The pattern as written (less a leading `/`).
    pub fn pattern(&self) -> &str {
        &self.pattern.raw
    }

    /// The block's capabilities; just `{Deny}` when it denies.
    pub fn capabilities(&self) -> BTreeSet<Capability> {
        self.caps.to_set()
    }
}

/// A named ACL policy: its source text and its parsed rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    name: String,
    text: String,
    rules: Vec<PathRule>,
}

impl Policy {
    /// Validates `name` (see [`validate_policy_name`]; the stored name is lowercased) and
    /// parses `text`, Vault HCL or Vault's JSON form. A policy without `path` blocks is valid
    /// and grants nothing.
    pub fn parse(name: &str, text: &str) -> Result<Policy, ValidationError> {
        let name = validate_policy_name(name)?;
        let rules = if text.trim_start().starts_with('{') {
            parse_json(text)?
        } else {
            parse_hcl(text)?
        };
        Ok(Policy {
            name,
            text: text.to_owned(),
            rules,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The `path` blocks in source order (duplicates are kept; they merge in an [`Acl`]).
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }
}

/// Checks a policy name and returns it lowercased, as Vault stores policy names:
/// 1 to 128 characters of `[a-zA-Z0-9_.-]`. `root` (in any case) is reserved.
pub fn validate_policy_name(name: &str) -> Result<String, ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new("policy name is empty"));
    }
    if name.chars().count() > MAX_POLICY_NAME_LEN {
        return Err(ValidationError::new(format!(
            "policy name is longer than {MAX_POLICY_NAME_LEN} characters"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(ValidationError::new(
            "policy name may only contain letters, digits, '_', '.' and '-'",
        ));
    }
    let normalized = name.to_ascii_lowercase();
    if normalized == ROOT_POLICY {
        return Err(ValidationError::new(
            "the root policy is built in and cannot be written",
        ));
    }
    Ok(normalized)
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Attributes Vault accepts in a `path` block that ConfMgr does not implement. Rejected with
/// a clear message rather than ignored, since ignoring them would grant more than intended.
const UNSUPPORTED_PATH_KEYS: [&str; 7] = [
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
    "mfa_methods",
    "control_group",
];

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

fn err_at(text: &str, span: Option<Range<usize>>, message: impl fmt::Display) -> ValidationError {
    match span {
        Some(span) => ValidationError::new(format!(
            "policy line {}: {message}",
            line_of(text, span.start)
        )),
        None => ValidationError::new(format!("policy: {message}")),
    }
}

/// The capabilities named by Vault's pre-0.5 `policy = "..."` attribute.
fn legacy_policy_caps(value: &str) -> Option<&'static [Capability]> {
    use Capability::*;
    match value {
        "deny" => Some(&[Deny]),
        "read" => Some(&[Read, List]),
        "write" => Some(&[Create, Read, Update, Delete, List]),
        "sudo" => Some(&[Create, Read, Update, Delete, List, Sudo]),
        _ => None,
    }
}

fn unknown_capability(name: &str) -> String {
    let known: Vec<&str> = Capability::ALL.iter().map(Capability::as_str).collect();
    format!(
        "unknown capability {name:?} (expected one of: {})",
        known.join(", ")
    )
}

/// Builds a rule from already-extracted values, applying the checks shared by HCL and JSON.
/// Errors are plain messages; callers add the location.
fn build_rule(
    pattern: &str,
    capabilities: Option<Vec<String>>,
    legacy_policy: Option<String>,
) -> Result<PathRule, String> {
    let pattern = Pattern::parse(pattern).map_err(|e| format!("path {pattern:?}: {e}"))?;
    let mut caps = Vec::new();
    if let Some(legacy) = &legacy_policy {
        let mapped = legacy_policy_caps(legacy).ok_or_else(|| {
            format!(
                "path {:?}: invalid policy {legacy:?} (expected deny, read, write or sudo)",
                pattern.raw
            )
        })?;
        caps.extend_from_slice(mapped);
    }
    for name in capabilities.iter().flatten() {
        let cap = Capability::parse(name)
            .ok_or_else(|| format!("path {:?}: {}", pattern.raw, unknown_capability(name)))?;
        caps.push(cap);
    }
    if caps.is_empty() {
        return Err(format!(
            "path {:?}: a path block must list at least one capability",
            pattern.raw
        ));
    }
    Ok(PathRule {
        pattern,
        caps: CapSet::from_caps(caps),
    })
}

fn parse_hcl(text: &str) -> Result<Vec<PathRule>, ValidationError> {
    let body: Body = hcl::edit::parser::parse_body(text).map_err(|e| {
        let loc = e.location();
        ValidationError::new(format!(
            "policy line {}, column {}: invalid HCL: {}",
            loc.line(),
            loc.column(),
            e.message()
        ))
    })?;
    let mut rules = Vec::new();
    let mut seen_name = false;
    for structure in body.iter() {
        match structure {
            Structure::Block(block) if block.ident.as_str() == "path" => {
                rules.push(parse_hcl_path_block(text, block)?);
            }
            Structure::Block(block) => {
                return Err(err_at(
                    text,
                    block.span(),
                    format!(
                        "unknown block type {:?} (only \"path\" blocks are allowed)",
                        block.ident.as_str()
                    ),
                ));
            }
            // Vault accepts (and ignores) a top-level `name`; the name comes from the API.
            Structure::Attribute(attr) if attr.key.as_str() == "name" => {
                if seen_name {
                    return Err(err_at(text, attr.span(), "duplicate attribute \"name\""));
                }
                seen_name = true;
                hcl_string(text, attr)?;
            }
            Structure::Attribute(attr) => {
                return Err(err_at(
                    text,
                    attr.span(),
                    format!(
                        "unknown top-level attribute {:?} (a policy holds \"path\" blocks)",
                        attr.key.as_str()
                    ),
                ));
            }
        }
    }
    Ok(rules)
}

fn parse_hcl_path_block(text: &str, block: &Block) -> Result<PathRule, ValidationError> {
    let pattern = match block.labels.as_slice() {
        [label] => label.as_str(),
        _ => {
            return Err(err_at(
                text,
                block.span(),
                "a path block needs exactly one label, the path pattern: path \"secret/data/app/*\" { ... }",
            ))
        }
    };
    let mut capabilities: Option<Vec<String>> = None;
    let mut legacy: Option<String> = None;
    let mut seen_comment = false;
    for structure in block.body.iter() {
        let attr = match structure {
            Structure::Attribute(attr) => attr,
            Structure::Block(inner) => {
                let ident = inner.ident.as_str();
                let why = if UNSUPPORTED_PATH_KEYS.contains(&ident) {
                    format!("{ident:?} is not supported by ConfMgr")
                } else {
                    format!("unknown block {ident:?}")
                };
                return Err(err_at(
                    text,
                    inner.span(),
                    format!("path {pattern:?}: {why}"),
                ));
            }
        };
        let key = attr.key.as_str();
        let duplicate = || {
            err_at(
                text,
                attr.span(),
                format!("path {pattern:?}: duplicate attribute {key:?}"),
            )
        };
        match key {
            "capabilities" => {
                if capabilities.is_some() {
                    return Err(duplicate());
                }
                capabilities = Some(hcl_string_list(text, pattern, attr)?);
            }
            "policy" => {
                if legacy.is_some() {
                    return Err(duplicate());
                }
                legacy = Some(hcl_string(text, attr)?);
            }
            "comment" => {
                if seen_comment {
                    return Err(duplicate());
                }
                seen_comment = true;
                hcl_string(text, attr)?;
            }
            _ if UNSUPPORTED_PATH_KEYS.contains(&key) => {
                return Err(err_at(
                    text,
                    attr.span(),
                    format!("path {pattern:?}: {key:?} is not supported by ConfMgr"),
                ));
            }
            _ => {
                return Err(err_at(
                    text,
                    attr.span(),
                    format!(
                        "path {pattern:?}: unknown attribute {key:?} (expected \"capabilities\")"
                    ),
                ));
            }
        }
    }
    build_rule(pattern, capabilities, legacy).map_err(|e| err_at(text, block.span(), e))
}

fn hcl_string(text: &str, attr: &Attribute) -> Result<String, ValidationError> {
    match &attr.value {
        Expression::String(s) => Ok(s.as_str().to_owned()),
        other => Err(err_at(
            text,
            other.span().or_else(|| attr.span()),
            format!("{:?} must be a plain string", attr.key.as_str()),
        )),
    }
}

fn hcl_string_list(
    text: &str,
    pattern: &str,
    attr: &Attribute,
) -> Result<Vec<String>, ValidationError> {
    let not_a_list = |span| {
        err_at(
            text,
            span,
            format!(
                "path {pattern:?}: capabilities must be a list of strings, e.g. [\"read\", \"list\"]"
            ),
        )
    };
    let Expression::Array(array) = &attr.value else {
        return Err(not_a_list(attr.span()));
    };
    array
        .iter()
        .map(|item| match item {
            Expression::String(s) => Ok(s.as_str().to_owned()),
            other => Err(not_a_list(other.span().or_else(|| attr.span()))),
        })
        .collect()
}

fn parse_json(text: &str) -> Result<Vec<PathRule>, ValidationError> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ValidationError::new(format!(
            "policy line {}, column {}: invalid JSON: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let err = |m: String| ValidationError::new(format!("policy: {m}"));
    let Value::Object(top) = value else {
        return Err(err("a JSON policy must be an object".to_owned()));
    };
    let mut rules = Vec::new();
    for (key, value) in &top {
        match key.as_str() {
            "path" => {
                // `{"path": {pattern: {...}}}`, or HCL1's list form `{"path": [{pattern: {...}}]}`.
                let maps: Vec<&serde_json::Map<String, Value>> = match value {
                    Value::Object(map) => vec![map],
                    Value::Array(items) => items
                        .iter()
                        .map(|item| match item {
                            Value::Object(map) => Ok(map),
                            _ => Err(err("\"path\" must map path patterns to objects".to_owned())),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err(err("\"path\" must map path patterns to objects".to_owned())),
                };
                for map in maps {
                    for (pattern, body) in map {
                        let bodies: Vec<&Value> = match body {
                            Value::Array(items) => items.iter().collect(),
                            other => vec![other],
                        };
                        for body in bodies {
                            rules.push(parse_json_path(pattern, body).map_err(err)?);
                        }
                    }
                }
            }
            "name" => {
                if !value.is_string() {
                    return Err(err("\"name\" must be a string".to_owned()));
                }
            }
            other => {
                return Err(err(format!(
                    "unknown top-level key {other:?} (a policy holds \"path\" entries)"
                )))
            }
        }
    }
    Ok(rules)
}

fn parse_json_path(pattern: &str, body: &serde_json::Value) -> Result<PathRule, String> {
    use serde_json::Value;
    let Value::Object(attrs) = body else {
        return Err(format!("path {pattern:?}: must be an object"));
    };
    let mut capabilities = None;
    let mut legacy = None;
    for (key, value) in attrs {
        match key.as_str() {
            "capabilities" => {
                let list = value
                    .as_array()
                    .and_then(|items| {
                        items
                            .iter()
                            .map(|v| v.as_str().map(str::to_owned))
                            .collect::<Option<Vec<String>>>()
                    })
                    .ok_or_else(|| {
                        format!("path {pattern:?}: capabilities must be a list of strings")
                    })?;
                capabilities = Some(list);
            }
            "policy" => {
                let s = value
                    .as_str()
                    .ok_or_else(|| format!("path {pattern:?}: \"policy\" must be a string"))?;
                legacy = Some(s.to_owned());
            }
            "comment" => {
                if !value.is_string() {
                    return Err(format!("path {pattern:?}: \"comment\" must be a string"));
                }
            }
            k if UNSUPPORTED_PATH_KEYS.contains(&k) => {
                return Err(format!(
                    "path {pattern:?}: {k:?} is not supported by ConfMgr"
                ));
            }
            k => {
                return Err(format!(
                    "path {pattern:?}: unknown attribute {k:?} (expected \"capabilities\")"
                ));
            }
        }
    }
    build_rule(pattern, capabilities, legacy)
}

// ---------------------------------------------------------------------------------------------
// ACL

/// The merged rules of a token's policies.
///
/// Lookup follows Vault: an exact rule for the path wins; otherwise, among the matching
/// glob and `+` rules, the highest-priority one applies alone. Priority between two
/// matching patterns P1 and P2 (Vault's documented order):
///
/// 1. if the first `+` or `*` occurs earlier in P1, P1 is lower priority;
/// 2. if P1 ends in `*` and P2 doesn't, P1 is lower priority;
/// 3. if P1 has more `+` segments, P1 is lower priority;
/// 4. if P1 is shorter, it is lower priority;
/// 5. if P1 is smaller lexicographically, it is lower priority.
///
/// `Acl::default()` is the empty ACL: it denies everything.
#[derive(Clone, Debug, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, CapSet>,
    /// Non-exact rules, merged per pattern, highest priority first.
    globs: Vec<(Pattern, CapSet)>,
}

impl Acl {
    /// Merges `policies` into an ACL. When `is_root` is set (the token holds the built-in
    /// `root` policy) the ACL allows everything and `policies` are irrelevant.
    pub fn new(policies: &[Policy], is_root: bool) -> Acl {
        if is_root {
            return Acl::root();
        }
        let mut exact: HashMap<String, CapSet> = HashMap::new();
        let mut globs: BTreeMap<String, (Pattern, CapSet)> = BTreeMap::new();
        for rule in policies.iter().flat_map(|p| &p.rules) {
            match rule.pattern.kind {
                PatternKind::Exact => {
                    exact
                        .entry(rule.pattern.raw.clone())
                        .and_modify(|caps| *caps = caps.merge(rule.caps))
                        .or_insert(rule.caps);
                }
                _ => {
                    globs
                        .entry(rule.pattern.raw.clone())
                        .and_modify(|(_, caps)| *caps = caps.merge(rule.caps))
                        .or_insert_with(|| (rule.pattern.clone(), rule.caps));
                }
            }
        }
        let mut globs: Vec<(Pattern, CapSet)> = globs.into_values().collect();
        globs.sort_by(|(a, _), (b, _)| compare_priority(b, a));
        Acl {
            root: false,
            exact,
            globs,
        }
    }

    /// The ACL of the built-in `root` policy: every capability, `sudo` included, everywhere.
    pub fn root() -> Acl {
        Acl {
            root: true,
            ..Acl::default()
        }
    }

    pub fn is_root(&self) -> bool {
        self.root
    }

    /// What the ACL grants at `path` (leading `/`s ignored). Empty when no rule matches or
    /// the applicable rule denies. Never contains `Deny`.
    pub fn capabilities(&self, path: &str) -> BTreeSet<Capability> {
        if self.root {
            return Capability::GRANTABLE.into_iter().collect();
        }
        let path = path.trim_start_matches('/');
        self.exact_rule(path)
            .or_else(|| self.glob_rule(path))
            .map(CapSet::granted)
            .unwrap_or_default()
    }

    /// Capabilities for a LIST request, with Vault's trailing-slash handling: list paths
    /// usually end in `/` (`secret/metadata/app/`), and Vault lets a rule written without the
    /// slash (`secret/metadata/app`, or a glob matching it) decide before rules that match
    /// only the slashed form. Lookup order: exact `path`, exact `path` less one trailing `/`,
    /// globs against `path` less the `/`, then globs against `path`.
    pub fn capabilities_for_list(&self, path: &str) -> BTreeSet<Capability> {
        if self.root {
            return Capability::GRANTABLE.into_iter().collect();
        }
        let path = path.trim_start_matches('/');
        let trimmed = path.strip_suffix('/');
        self.exact_rule(path)
            .or_else(|| trimmed.and_then(|t| self.exact_rule(t)))
            .or_else(|| trimmed.and_then(|t| self.glob_rule(t)))
            .or_else(|| self.glob_rule(path))
            .map(CapSet::granted)
            .unwrap_or_default()
    }

    /// Whether `capability` is granted at `path`. Always false for `Deny`.
    pub fn allows(&self, path: &str, capability: Capability) -> bool {
        capability != Capability::Deny && self.capabilities(path).contains(&capability)
    }

    fn exact_rule(&self, path: &str) -> Option<CapSet> {
        self.exact.get(path).copied()
    }

    fn glob_rule(&self, path: &str) -> Option<CapSet> {
        self.globs
            .iter()
            .find(|(pattern, _)| pattern.matches(path))
            .map(|(_, caps)| *caps)
    }
}

/// Orders non-exact patterns by Vault priority (greater = wins).
fn compare_priority(a: &Pattern, b: &Pattern) -> Ordering {
    a.priority().cmp(&b.priority())
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_policies_are_sanitized_like_vault() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            super::token_policies(&names(&[" B", "a", "b", ""]), false),
            names(&["a", "b", "default"])
        );
        assert_eq!(super::token_policies(&names(&["a"]), true), names(&["a"]));
        assert_eq!(
            super::token_policies(&names(&["a", "Root"]), false),
            names(&["root"])
        );
        assert_eq!(super::token_policies(&[], false), names(&["default"]));
    }

    use super::*;
    use proptest::prelude::*;
    use Capability::*;

    fn policy(name: &str, text: &str) -> Policy {
        Policy::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"))
    }

    fn acl<S: AsRef<str>>(texts: &[S]) -> Acl {
        let policies: Vec<Policy> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| policy(&format!("p{i}"), t.as_ref()))
            .collect();
        Acl::new(&policies, false)
    }

    fn caps(list: &[Capability]) -> BTreeSet<Capability> {
        list.iter().copied().collect()
    }

    fn block(pattern: &str, capabilities: &[&str]) -> String {
        let list: Vec<String> = capabilities.iter().map(|c| format!("{c:?}")).collect();
        format!(
            "path {pattern:?} {{\n  capabilities = [{}]\n}}\n",
            list.join(", ")
        )
    }

    fn err(name: &str, text: &str) -> String {
        match Policy::parse(name, text) {
            Ok(p) => panic!("expected an error for {text:?}, got {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn capability_names_round_trip() {
        for c in Capability::ALL {
            assert_eq!(Capability::parse(c.as_str()), Some(c));
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(Capability::parse("READ"), None);
        assert_eq!(Capability::parse("root"), None);
        assert_eq!(Capability::parse("write"), None);
    }

    #[test]
    fn parses_vault_hcl_with_comments_and_many_blocks() {
        let text = r#"
# Full access to the app's secrets
path "secret/data/app/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}

// but not this one
path "secret/data/app/super-secret" {
  capabilities = ["deny"]
}

/* listing */
path "secret/metadata/app/" {
  comment = "lets the UI browse"
  capabilities = [
    "list",
  ]
}
"#;
        let p = policy("App-Team", text);
        assert_eq!(p.name(), "app-team");
        assert_eq!(p.text(), text);
        let rules: Vec<(&str, BTreeSet<Capability>)> = p
            .rules()
            .iter()
            .map(|r| (r.pattern(), r.capabilities()))
            .collect();
        assert_eq!(
            rules,
            vec![
                (
                    "secret/data/app/*",
                    caps(&[Create, Read, Update, Patch, Delete, List])
                ),
                ("secret/data/app/super-secret", caps(&[Deny])),
                ("secret/metadata/app/", caps(&[List])),
            ]
        );
        let a = Acl::new(&[p], false);
        assert!(a.allows("secret/data/app/db", Read));
        assert!(a.capabilities("secret/data/app/super-secret").is_empty());
        assert_eq!(a.capabilities("secret/metadata/app/"), caps(&[List]));
        assert!(a.capabilities("secret/data/other").is_empty());
    }

    #[test]
    fn empty_policy_is_valid_and_grants_nothing() {
        for text in ["", "   \n", "# only a comment\n", "{}", "{\"path\": {}}"] {
            let p = policy("empty", text);
            assert!(p.rules().is_empty(), "{text:?}");
            assert!(Acl::new(&[p], false)
                .capabilities("secret/data/x")
                .is_empty());
        }
    }

    #[test]
    fn deny_in_a_block_drops_other_capabilities() {
        let p = policy("d", &block("secret/x", &["read", "deny", "sudo"]));
        assert_eq!(p.rules()[0].capabilities(), caps(&[Deny]));
    }

    #[test]
    fn exact_and_glob_matching() {
        // Examples from Vault's policy documentation.
        let a = acl(&[&[
            block("secret/foo", &["read"]),
            block("secret/bar/*", &["read"]),
            block("secret/zip-*", &["read"]),
            block("secret/+/teamb", &["update"]),
            block("secret/+/+/teamc", &["delete"]),
        ]
        .concat()]);
        let table: &[(&str, &[Capability])] = &[
            ("secret/foo", &[Read]),
            ("/secret/foo", &[Read]),
            ("secret/food", &[]),
            ("secret/foo/bar", &[]),
            ("secret/bar/zip", &[Read]),
            ("secret/bar/zip/zap", &[Read]),
            ("secret/bar/", &[Read]),
            ("secret/bar", &[]),
            ("secret/bars/zip", &[]),
            ("secret/zip-zap", &[Read]),
            ("secret/zip-zap/zong", &[Read]),
            ("secret/zip/zap", &[]),
            ("secret/a/teamb", &[Update]),
            ("secret/anything-at-all/teamb", &[Update]),
            ("secret/a/b/teamb", &[]),
            ("secret/teamb", &[]),
            ("secret/a/teamb/x", &[]),
            ("secret/foo/bar/teamc", &[Delete]),
            ("secret/baz/foo/teamc", &[Delete]),
            // Both secret/bar/* and secret/+/+/teamc match; the glob's first wildcard comes
            // later, so it has priority (rule 1) and the `+` rule is not consulted.
            ("secret/bar/foo/teamc", &[Read]),
            ("secret/foo/teamc", &[]),
            ("other/foo", &[]),
        ];
        for (path, want) in table {
            assert_eq!(a.capabilities(path), caps(want), "{path}");
        }
    }

    #[test]
    fn plus_star_and_plus_anywhere() {
        let a = acl(&[&[
            block("+/config", &["read"]),
            block("secret/+/app-*", &["list"]),
            block("secret/+/sub/*", &["create"]),
            block("+", &["sudo"]),
        ]
        .concat()]);
        let table: &[(&str, &[Capability])] = &[
            ("ns1/config", &[Read]),
            ("ns1/config/x", &[]),
            ("secret/x/app-1", &[List]),
            ("secret/x/app-1/deep/er", &[List]),
            ("secret/x/ap", &[]),
            ("secret/x/y/app-1", &[]),
            ("secret/x/sub/k", &[Create]),
            ("secret/x/sub/", &[Create]),
            ("secret/x/sub", &[]),
            ("toplevel", &[Sudo]),
            ("top/level", &[]),
        ];
        for (path, want) in table {
            assert_eq!(a.capabilities(path), caps(want), "{path}");
        }
    }

    #[test]
    fn priority_order_follows_vault() {
        // Each pair: (higher priority, lower priority); both match the path.
        let cases: &[(&str, &str, &str, &str)] = &[
            // From the docs: "secret/+/+/foo/*" is lower than "secret/*" (rule 3).
            (
                "secret/*",
                "secret/+/+/foo/*",
                "secret/a/b/foo/c",
                "rule 3 (docs)",
            ),
            // From Vault's comments on its ordering:
            ("foo/a*", "foo/+", "foo/ab", "rule 1: later first wildcard"),
            (
                "foo/bar/+/baz",
                "foo/+/bar/baz",
                "foo/bar/bar/baz",
                "rule 1",
            ),
            (
                "foo/+/bar",
                "foo/+/ba*",
                "foo/x/bar",
                "rule 2: not a prefix",
            ),
            ("foo/+", "foo/*", "foo/x", "rule 2"),
            (
                "foo/+/bar/ba*",
                "foo/+/bar/b*",
                "foo/x/bar/baz",
                "rule 4: longer",
            ),
            (
                "secret/data/app/*",
                "secret/data/*",
                "secret/data/app/x",
                "longest prefix",
            ),
            ("secret/a*", "secret/*", "secret/ab", "longest prefix"),
            ("a/+/c/d", "a/+/+/d", "a/b/c/d", "rule 3: fewer wildcards"),
            (
                "a/+/c/+",
                "a/+/+/d",
                "a/b/c/d",
                "rule 5: '+' sorts before 'c'",
            ),
        ];
        for (high, low, path, why) in cases {
            for order in [[high, low], [low, high]] {
                let a = acl(&[
                    &block(order[0], &[if order[0] == high { "read" } else { "list" }]),
                    &block(order[1], &[if order[1] == high { "read" } else { "list" }]),
                ]);
                assert_eq!(
                    a.capabilities(path),
                    caps(&[Read]),
                    "{why}: {high} over {low}"
                );
            }
        }
    }

    #[test]
    fn priority_keys_compare_like_vault() {
        // Rule 5 on its own: same first wildcard, prefixness, `+` count and length.
        let p1 = Pattern::parse("a/+/b/c").unwrap_or_else(|e| panic!("{e}"));
        let p2 = Pattern::parse("a/+/b/d").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(compare_priority(&p1, &p2), Ordering::Less);
        let p3 = Pattern::parse("a/b/+/c").unwrap_or_else(|e| panic!("{e}"));
        let p4 = Pattern::parse("a/+/b/c").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(compare_priority(&p3, &p4), Ordering::Greater);
    }

    #[test]
    fn exact_rule_wins_over_any_glob() {
        let a = acl(&[&block("secret/+", &["deny"]), &block("secret/x", &["read"])]);
        assert_eq!(a.capabilities("secret/x"), caps(&[Read]));
        assert!(a.capabilities("secret/y").is_empty());
        let a = acl(&[
            &block("secret/*", &["read", "list"]),
            &block("secret/x", &["list"]),
        ]);
        assert_eq!(a.capabilities("secret/x"), caps(&[List]));
    }

    #[test]
    fn explicit_deny_beats_a_broader_allow() {
        // The docs' example: secret/* allows, secret/super-secret denies.
        let a = acl(&[
            &block(
                "secret/*",
                &["create", "read", "update", "patch", "delete", "list"],
            ),
            &block("secret/super-secret", &["deny"]),
        ]);
        assert!(a.capabilities("secret/super-secret").is_empty());
        assert!(a.allows("secret/other", Read));
        let a = acl(&[
            &block("secret/*", &["read"]),
            &block("secret/team/*", &["deny"]),
        ]);
        assert!(!a.allows("secret/team/x", Read));
        assert!(a.allows("secret/teams", Read));
    }

    #[test]
    fn more_specific_allow_beats_broader_deny() {
        // Vault evaluates only the most specific matching rule, so a broader deny does not
        // reach a path with a more specific allow ("we take only the highest-priority match").
        let a = acl(&[
            &block("secret/*", &["deny"]),
            &block("secret/team/*", &["read"]),
        ]);
        assert_eq!(a.capabilities("secret/team/x"), caps(&[Read]));
        assert!(a.capabilities("secret/other").is_empty());
        let a = acl(&[&block("*", &["deny"]), &block("secret/+/cfg", &["read"])]);
        assert_eq!(a.capabilities("secret/a/cfg"), caps(&[Read]));
    }

    #[test]
    fn same_pattern_merges_by_union_across_policies() {
        let a = acl(&[
            &block("secret/data/app/*", &["read"]),
            &block("secret/data/app/*", &["list", "update"]),
            &block("secret/data/app/db", &["read"]),
            &block("/secret/data/app/db", &["delete"]),
        ]);
        assert_eq!(
            a.capabilities("secret/data/app/x"),
            caps(&[Read, List, Update])
        );
        assert_eq!(a.capabilities("secret/data/app/db"), caps(&[Read, Delete]));
    }

    #[test]
    fn same_pattern_merges_within_one_policy() {
        let text = [block("secret/x", &["read"]), block("secret/x", &["list"])].concat();
        assert_eq!(acl(&[&text]).capabilities("secret/x"), caps(&[Read, List]));
    }

    #[test]
    fn deny_in_a_merged_rule_denies_everything() {
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let texts = [
                block("secret/data/*", &["read", "list", "sudo"]),
                block("secret/data/*", &["deny"]),
                block("secret/data/*", &["update"]),
            ];
            let a = acl(&order.map(|i| texts[i].as_str()));
            assert!(a.capabilities("secret/data/x").is_empty(), "{order:?}");
            assert!(!a.allows("secret/data/x", Sudo));
        }
        let a = acl(&[&block("secret/x", &["read"]), &block("secret/x", &["deny"])]);
        assert!(a.capabilities("secret/x").is_empty());
    }

    #[test]
    fn different_patterns_do_not_union() {
        // Vault takes only the highest-priority pattern's capabilities.
        let a = acl(&[
            &block("secret/*", &["read"]),
            &block("secret/app/*", &["list"]),
        ]);
        assert_eq!(a.capabilities("secret/app/x"), caps(&[List]));
    }

    #[test]
    fn root_allows_everything() {
        for a in [
            Acl::root(),
            Acl::new(&[], true),
            Acl::new(&[policy("x", &block("*", &["deny"]))], true),
        ] {
            assert!(a.is_root());
            for path in ["", "secret/data/x", "sys/policies/acl/foo", "/a//b/"] {
                assert_eq!(
                    a.capabilities(path),
                    Capability::GRANTABLE.into_iter().collect()
                );
                assert!(a.allows(path, Sudo));
                assert!(!a.allows(path, Deny));
            }
        }
        assert!(!Acl::default().is_root());
    }

    #[test]
    fn list_trailing_slash_like_vault() {
        let a = acl(&[&block("secret/metadata/app", &["list"])]);
        assert!(a.capabilities("secret/metadata/app/").is_empty());
        assert_eq!(
            a.capabilities_for_list("secret/metadata/app/"),
            caps(&[List])
        );
        let a = acl(&[&block("+/metadata/app", &["list"])]);
        assert_eq!(
            a.capabilities_for_list("secret/metadata/app/"),
            caps(&[List])
        );
        let a = acl(&[&block("secret/metadata/app/", &["list"])]);
        assert_eq!(
            a.capabilities_for_list("secret/metadata/app/"),
            caps(&[List])
        );
        // A glob matching the unslashed path decides first.
        let a = acl(&[
            &block("secret/metadata/ap*", &["deny"]),
            &block("secret/metadata/app/*", &["list"]),
        ]);
        assert!(a.capabilities_for_list("secret/metadata/app/").is_empty());
        assert_eq!(a.capabilities("secret/metadata/app/"), caps(&[List]));
        assert!(Acl::root().capabilities_for_list("x/").contains(&List));
    }

    #[test]
    fn json_form() {
        let text = r#"{
          "path": {
            "secret/data/app/*": {"capabilities": ["read", "list"]},
            "secret/data/app/db": {"capabilities": ["deny"]}
          }
        }"#;
        let a = Acl::new(&[policy("j", text)], false);
        assert_eq!(a.capabilities("secret/data/app/x"), caps(&[Read, List]));
        assert!(a.capabilities("secret/data/app/db").is_empty());
        let list_form = r#"{"path": [{"a/*": {"capabilities": ["read"]}}, {"a/*": [{"capabilities": ["list"]}]}]}"#;
        let a = Acl::new(&[policy("j2", list_form)], false);
        assert_eq!(a.capabilities("a/b"), caps(&[Read, List]));
        let e = err("j", r#"{"path": {"x": {"capabilities": ["raed"]}}}"#);
        assert!(e.contains("unknown capability \"raed\""), "{e}");
        let e = err(
            "j",
            r#"{"path": {"x": {"capabilities": ["read"], "allowed_parameters": {}}}}"#,
        );
        assert!(
            e.contains("allowed_parameters") && e.contains("not supported"),
            "{e}"
        );
        let e = err(
            "j",
            r#"{"path": {"x": {"capabilities": ["read"]}}, "bogus": 1}"#,
        );
        assert!(e.contains("bogus"), "{e}");
        let e = err("j", "{\n\"path\": {\"x\": \n}");
        assert!(e.contains("invalid JSON") && e.contains("line"), "{e}");
        let e = err("j", r#"{"path": {"x": {"capabilities": "read"}}}"#);
        assert!(e.contains("list of strings"), "{e}");
    }

    #[test]
    fn legacy_policy_attribute() {
        let a = acl(&[&r#"
path "a/*" { policy = "read" }
path "b/*" { policy = "write" }
path "c/*" { policy = "sudo" }
path "d/*" {
  policy = "deny"
  capabilities = ["read"]
}
"#]);
        assert_eq!(a.capabilities("a/x"), caps(&[Read, List]));
        assert_eq!(
            a.capabilities("b/x"),
            caps(&[Create, Read, Update, Delete, List])
        );
        assert_eq!(
            a.capabilities("c/x"),
            caps(&[Create, Read, Update, Delete, List, Sudo])
        );
        assert!(a.capabilities("d/x").is_empty());
        let e = err("p", "path \"a\" { policy = \"admin\" }");
        assert!(e.contains("invalid policy \"admin\""), "{e}");
    }

    #[test]
    fn parse_errors_name_the_problem_and_line() {
        let cases: &[(&str, &[&str])] = &[
            (
                "path \"secret/x\" {\n  capabilities = [\"read\", \"raed\"]\n}\n",
                &["line 1", "unknown capability \"raed\"", "secret/x"],
            ),
            (
                "\n\npath \"secret/x\" {\n  capabilities = [\"read\"]\n  allowed_parameters = {\n    \"foo\" = []\n  }\n}\n",
                &["line 5", "\"allowed_parameters\" is not supported"],
            ),
            (
                "path \"x\" {\n capabilities = [\"read\"]\n required_parameters = [\"a\"]\n}",
                &["line 3", "required_parameters"],
            ),
            (
                "path \"x\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = \"1s\"\n}",
                &["min_wrapping_ttl", "not supported"],
            ),
            ("path \"x\" {\n capabilities = [\"read\"]\n colour = \"red\"\n}", &["line 3", "unknown attribute \"colour\""]),
            ("path \"x\" {\n capabilities = [\"read\"]\n control_group {\n }\n}", &["control_group", "not supported"]),
            ("path \"x\" {\n capabilities = [\"read\"]\n nested {\n }\n}", &["unknown block \"nested\""]),
            ("# c\nbackend \"x\" {\n}\n", &["line 2", "unknown block type \"backend\""]),
            ("policy = \"read\"\n", &["unknown top-level attribute \"policy\""]),
            ("path \"x\" \"y\" {\n capabilities = [\"read\"]\n}", &["exactly one label"]),
            ("path {\n capabilities = [\"read\"]\n}", &["exactly one label"]),
            ("path \"x\" {\n}", &["at least one capability"]),
            ("path \"x\" {\n capabilities = []\n}", &["at least one capability"]),
            ("path \"x\" {\n capabilities = \"read\"\n}", &["list of strings"]),
            ("path \"x\" {\n capabilities = [read]\n}", &["list of strings"]),
            ("path \"x\" {\n capabilities = [\"${var.x}\"]\n}", &["list of strings"]),
            ("path \"x\" {\n capabilities = [\"read\"]\n capabilities = [\"list\"]\n}", &["line 3", "redefined attribute"]),
            ("path \"secret/*/x\" {\n capabilities = [\"read\"]\n}", &["'*' is only allowed as the last character"]),
            ("path \"secret/**\" {\n capabilities = [\"read\"]\n}", &["'*' is only allowed as the last character"]),
            ("path \"secret/+*\" {\n capabilities = [\"read\"]\n}", &["'+*' is forbidden"]),
            ("path \"\" {\n capabilities = [\"read\"]\n}", &["empty"]),
            ("path \"/\" {\n capabilities = [\"read\"]\n}", &["empty"]),
            ("path \"secret/data/{{identity.entity.id}}/*\" {\n capabilities = [\"read\"]\n}", &["templated"]),
            ("path \"x\" {\n capabilities = [\"read\"\n", &["invalid HCL", "line"]),
            ("path \"x\" { capabilities = [\"read\"] }\n}\n", &["invalid HCL", "line 2"]),
        ];
        for (text, needles) in cases {
            let e = err("p", text);
            for needle in *needles {
                assert!(e.contains(needle), "{text:?}: {e:?} lacks {needle:?}");
            }
            assert!(!e.contains('\n'), "one-line message expected: {e:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // Run on tokio's default worker stack size (2 MiB); passes at 512 KiB in debug builds.
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                let n = 100_000;
                let hcl = format!(
                    "path \"x\" {{ capabilities = {}{} }}",
                    "[".repeat(n),
                    "]".repeat(n)
                );
                let blocks = format!("{}{}", "a {\n".repeat(n), "}\n".repeat(n));
                let json = format!("{{\"path\": {}{}}}", "[".repeat(n), "]".repeat(n));
                [hcl, blocks, json]
                    .iter()
                    .all(|text| Policy::parse("deep", text).is_err())
            })
            .unwrap();
        assert!(handle.join().unwrap());
    }

    #[test]
    fn top_level_name_and_comment_are_accepted() {
        let p = policy(
            "n",
            "name = \"ignored\"\npath \"x\" {\n comment = \"hi\"\n capabilities = [\"read\"]\n}",
        );
        assert_eq!(p.name(), "n");
        assert_eq!(p.rules().len(), 1);
    }

    #[test]
    fn policy_names() {
        assert_eq!(
            validate_policy_name("Dev-ReadOnly_1.2"),
            Ok("dev-readonly_1.2".into())
        );
        assert_eq!(validate_policy_name("default"), Ok("default".into()));
        assert_eq!(validate_policy_name(&"a".repeat(128)), Ok("a".repeat(128)));
        for bad in [
            "",
            "root",
            "ROOT",
            "Root",
            "a b",
            "a/b",
            "a*",
            "é",
            "a\n",
            "+",
            "a".repeat(129).as_str(),
        ] {
            assert!(
                validate_policy_name(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(Policy::parse("root", "").is_err());
        assert!(Policy::parse("bad name", "").is_err());
        assert!(err("root", "").contains("root"));
    }

    #[test]
    fn empty_acl_denies() {
        for a in [Acl::default(), Acl::new(&[], false)] {
            assert!(a.capabilities("secret/data/x").is_empty());
            assert!(!a.allows("", Read));
            assert!(a.capabilities_for_list("secret/metadata/").is_empty());
        }
    }

    fn path_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9/+*._-]{0,40}",
            proptest::collection::vec("[a-z]{0,4}", 0..6).prop_map(|s| s.join("/")),
            any::<String>(),
        ]
    }

    fn pattern_strategy() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(prop_oneof![Just("+".to_owned()), "[ab]{1,2}"], 1..4),
            any::<bool>(),
        )
            .prop_map(|(parts, glob)| {
                let mut p = parts.join("/");
                if glob && !p.ends_with('+') {
                    p.push('*');
                }
                p
            })
    }

    fn caps_strategy() -> impl Strategy<Value = Vec<Capability>> {
        proptest::collection::vec(proptest::sample::select(Capability::ALL.to_vec()), 1..4)
    }

    fn rules_strategy() -> impl Strategy<Value = Vec<(String, Vec<Capability>)>> {
        proptest::collection::vec((pattern_strategy(), caps_strategy()), 0..6)
    }

    fn policies_from(rules: &[(String, Vec<Capability>)]) -> Vec<Policy> {
        rules
            .iter()
            .enumerate()
            .map(|(i, (pattern, cs))| {
                let names: Vec<&str> = cs.iter().map(Capability::as_str).collect();
                policy(&format!("p{i}"), &block(pattern, &names))
            })
            .collect()
    }

    /// Vault's documented rules, applied literally and pairwise: is `p1` lower priority
    /// than `p2`? Patterns here use `+` only as whole segments.
    fn vault_lower_priority(p1: &str, p2: &str) -> bool {
        let first = |p: &str| p.find(['+', '*']).unwrap_or(p.len());
        let strip = |p: &str| p.strip_suffix('*').unwrap_or(p).to_owned();
        let plus = |p: &str| strip(p).split('/').filter(|s| *s == "+").count();
        if first(p1) != first(p2) {
            return first(p1) < first(p2);
        }
        if p1.ends_with('*') != p2.ends_with('*') {
            return p1.ends_with('*');
        }
        if plus(p1) != plus(p2) {
            return plus(p1) > plus(p2);
        }
        if strip(p1).len() != strip(p2).len() {
            return strip(p1).len() < strip(p2).len();
        }
        strip(p1) < strip(p2)
    }

    /// A slow, separate statement of Vault's lookup.
    fn reference_capabilities(policies: &[Policy], path: &str) -> BTreeSet<Capability> {
        let path = path.trim_start_matches('/');
        let mut merged: BTreeMap<&str, (bool, CapSet)> = BTreeMap::new();
        for r in policies.iter().flat_map(|p| p.rules()) {
            let exact = !r.pattern().contains(['+', '*']);
            let e = merged
                .entry(r.pattern())
                .or_insert((exact, CapSet::default()));
            e.1 = if e.1.is_deny() || r.caps.is_deny() {
                CapSet::DENY
            } else {
                CapSet(e.1 .0 | r.caps.0)
            };
        }
        if let Some((_, caps)) = merged.get(path).filter(|(exact, _)| *exact) {
            return caps.granted();
        }
        let matching: Vec<(&str, CapSet)> = merged
            .iter()
            .filter(|(p, (exact, _))| {
                !exact && Pattern::parse(p).is_ok_and(|pat| pat.matches(path))
            })
            .map(|(p, (_, c))| (*p, *c))
            .collect();
        let best = matching.iter().find(|(p, _)| {
            matching
                .iter()
                .all(|(q, _)| q == p || vault_lower_priority(q, p))
        });
        best.map(|(_, c)| c.granted()).unwrap_or_default()
    }

    proptest! {
        #[test]
        fn no_policies_grant_nothing(path in path_strategy()) {
            for a in [Acl::default(), Acl::new(&[], false), Acl::new(&[policy("e", "")], false)] {
                prop_assert!(a.capabilities(&path).is_empty());
                prop_assert!(a.capabilities_for_list(&path).is_empty());
                for c in Capability::ALL {
                    prop_assert!(!a.allows(&path, c));
                }
            }
        }

        #[test]
        fn deny_star_grants_nothing(path in path_strategy()) {
            let deny = policy("deny-all", &block("*", &["deny"]));
            let allow = policy("allow-all", &block("*", &["create", "read", "update", "patch", "delete", "list", "sudo"]));
            for a in [Acl::new(std::slice::from_ref(&deny), false), Acl::new(&[allow, deny], false)] {
                prop_assert!(a.capabilities(&path).is_empty());
                prop_assert!(a.capabilities_for_list(&path).is_empty());
                for c in Capability::ALL {
                    prop_assert!(!a.allows(&path, c));
                }
            }
        }

        #[test]
        fn root_grants_everything(path in path_strategy()) {
            let a = Acl::root();
            for c in Capability::GRANTABLE {
                prop_assert!(a.allows(&path, c));
            }
            prop_assert!(!a.capabilities(&path).contains(&Deny));
        }

        #[test]
        fn policy_order_does_not_matter(rules in rules_strategy(), path in "[ab/+]{0,12}") {
            let policies = policies_from(&rules);
            let mut reversed = policies.clone();
            reversed.reverse();
            let (a, b) = (Acl::new(&policies, false), Acl::new(&reversed, false));
            prop_assert_eq!(a.capabilities(&path), b.capabilities(&path));
            prop_assert_eq!(a.capabilities_for_list(&path), b.capabilities_for_list(&path));
        }

        #[test]
        fn acl_agrees_with_a_reference_model(rules in rules_strategy(), path in "[ab/+]{0,12}") {
            let policies = policies_from(&rules);
            let got = Acl::new(&policies, false).capabilities(&path);
            prop_assert_eq!(got, reference_capabilities(&policies, &path));
        }

        /// Patterns derived from the request path, so that many rules match it at once and
        /// the priority order is what decides.
        #[test]
        fn acl_agrees_with_a_reference_model_on_competing_rules(
            segments in proptest::collection::vec("[ab]{1,3}", 1..5),
            trailing_slash in any::<bool>(),
            derived in proptest::collection::vec(
                (any::<u8>(), 0usize..6, any::<bool>(), 0usize..3, caps_strategy()),
                1..7,
            ),
        ) {
            let mut path = segments.join("/");
            if trailing_slash {
                path.push('/');
            }
            let rules: Vec<(String, Vec<Capability>)> = derived
                .into_iter()
                .map(|(mask, keep, glob, chop, cs)| {
                    let keep = keep.clamp(1, segments.len());
                    let mut parts: Vec<String> = segments[..keep]
                        .iter()
                        .enumerate()
                        .map(|(i, seg)| if mask & (1 << i) != 0 { "+".to_owned() } else { seg.clone() })
                        .collect();
                    let mut pattern = if glob {
                        if let Some(last) = parts.last_mut().filter(|l| *l != "+") {
                            let cut = last.len().saturating_sub(chop);
                            last.truncate(cut);
                        }
                        let mut p = parts.join("/");
                        if p.ends_with('+') {
                            p.push('/');
                        }
                        p.push('*');
                        p
                    } else {
                        parts.join("/")
                    };
                    if pattern.is_empty() || pattern == "/" {
                        pattern = "*".to_owned();
                    }
                    (pattern, cs)
                })
                .collect();
            let policies = policies_from(&rules);
            let acl = Acl::new(&policies, false);
            prop_assert_eq!(acl.capabilities(&path), reference_capabilities(&policies, &path));
        }

        #[test]
        fn lone_rule_applies_exactly_where_it_matches(pattern in pattern_strategy(), cs in caps_strategy(), path in "[ab/]{0,12}") {
            let names: Vec<&str> = cs.iter().map(Capability::as_str).collect();
            let p = policy("one", &block(&pattern, &names));
            let got = Acl::new(&[p], false).capabilities(&path);
            let rule = Pattern::parse(&pattern).map_err(TestCaseError::fail)?;
            let want = if rule.matches(path.trim_start_matches('/')) { CapSet::from_caps(cs).granted() } else { BTreeSet::new() };
            prop_assert_eq!(got, want);
        }

        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = Policy::parse("fuzz", &text);
        }
    }
}
