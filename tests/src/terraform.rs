//! A small stand-in evaluator for the Terraform in `infra/`, for static checks
//! where the AWS provider can't be downloaded (so no `terraform validate` or
//! `plan`).
//!
//! The HCL is parsed with hcl-rs and the expressions that matter are evaluated
//! as Terraform would, with one stand-in: every attribute of a resource or
//! data source evaluates to its own address, e.g.
//! `aws_dynamodb_table.this[orders].arn`. A policy's resource list then reads
//! as the resources it names, a route's target as the integration it names, an
//! environment variable as the table it names.
//!
//! Supported: variables (defaults, overrides), `locals` (in any order, also
//! depending on resources' `for_each`), `for_each` / `count` instances
//! (`each.key`, `each.value`, `count.index`), nested and `dynamic` blocks,
//! `path.module`, and the functions `declare_functions` lists. Not modelled:
//! modules, providers, file functions (they evaluate to their own call, e.g.
//! `filebase64sha256(p)`).
//!
//! Errors are `String`s: they end up as a test's failure message, and the
//! functions hcl-rs calls must return `Result<Value, String>` anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Body, Expression, Map, ObjectKey, Value};

use crate::workspace_root;

/// What every function here returns: the error is a readable message.
pub type R<T> = Result<T, String>;

/// The parsed blocks of one Terraform root module (all its `.tf` files).
#[derive(Debug)]
pub struct Tf {
    /// The workspace root (relative paths in checks start here).
    pub root: PathBuf,
    /// The module's directory: `path.module` and `path.root`.
    pub infra: PathBuf,
    /// `variable` blocks by name.
    pub variables: BTreeMap<String, Body>,
    /// `output` blocks by name.
    pub outputs: BTreeMap<String, Body>,
    /// Every `locals` attribute, in file order.
    pub locals: Vec<(String, Expression)>,
    /// `resource` and `data` blocks, in file order.
    pub resources: Vec<Res>,
}

/// A resource or data source block.
#[derive(Debug)]
pub struct Res {
    /// A `data` block rather than a `resource`.
    pub data: bool,
    /// The type label, e.g. `aws_iam_role`.
    pub typ: String,
    /// The name label.
    pub name: String,
    /// The block's body, unevaluated.
    pub body: Body,
}

impl Res {
    /// `type.name`, or `data.type.name`.
    pub fn address(&self) -> String {
        let prefix = if self.data { "data." } else { "" };
        format!("{prefix}{}.{}", self.typ, self.name)
    }
}

impl Tf {
    /// Parse every `.tf` file of the workspace's `infra/` (each on its own
    /// first, so a syntax error names its file).
    pub fn load() -> R<Tf> {
        let root = workspace_root();
        let infra = root.join("infra");
        let mut files: Vec<PathBuf> = fs::read_dir(&infra)
            .map_err(|e| format!("{}: {e}", infra.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "tf"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(format!("no .tf files in {}", infra.display()));
        }
        let mut text = String::new();
        for file in &files {
            let content =
                fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            hcl::parse(&content).map_err(|e| format!("{}: {e}", file.display()))?;
            text.push_str(&content);
            text.push('\n');
        }
        let mut tf = Tf::parse(&infra, &text)?;
        tf.root = root;
        Ok(tf)
    }

    /// Parse `text` as the module in directory `infra`. Modules are refused:
    /// nothing here evaluates them.
    pub fn parse(infra: &Path, text: &str) -> R<Tf> {
        let body = hcl::parse(text).map_err(|e| e.to_string())?;
        let mut tf = Tf {
            root: infra.parent().map(Path::to_path_buf).unwrap_or_default(),
            infra: infra.to_path_buf(),
            variables: BTreeMap::new(),
            outputs: BTreeMap::new(),
            locals: Vec::new(),
            resources: Vec::new(),
        };
        for block in body.blocks() {
            let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
            match (block.identifier(), labels.as_slice()) {
                ("variable", [name]) => {
                    tf.variables
                        .insert((*name).to_owned(), block.body().clone());
                }
                ("output", [name]) => {
                    tf.outputs.insert((*name).to_owned(), block.body().clone());
                }
                ("locals", []) => {
                    for attr in block.body().attributes() {
                        if tf.locals.iter().any(|(n, _)| n == attr.key()) {
                            return Err(format!("local.{} is defined twice", attr.key()));
                        }
                        tf.locals.push((attr.key().to_owned(), attr.expr().clone()));
                    }
                }
                (kind @ ("resource" | "data"), [typ, name]) => tf.resources.push(Res {
                    data: kind == "data",
                    typ: (*typ).to_owned(),
                    name: (*name).to_owned(),
                    body: block.body().clone(),
                }),
                ("module", _) => return Err("modules are not modelled by this check".to_owned()),
                _ => {}
            }
        }
        Ok(tf)
    }

    /// The `resource` (or with `data`, the `data`) block `typ.name`.
    pub fn find(&self, data: bool, typ: &str, name: &str) -> R<&Res> {
        self.resources
            .iter()
            .find(|r| r.data == data && r.typ == typ && r.name == name)
            .ok_or_else(|| {
                format!(
                    "{}{typ}.{name} is not defined in infra/",
                    if data { "data." } else { "" }
                )
            })
    }

    /// The `resource` block `typ.name`.
    pub fn resource(&self, typ: &str, name: &str) -> R<&Res> {
        self.find(false, typ, name)
    }

    /// The `data` block `typ.name`.
    pub fn data(&self, typ: &str, name: &str) -> R<&Res> {
        self.find(true, typ, name)
    }
}

/// One instance of a resource: plain, `for_each` (each.key, each.value) or `count` (count.index).
#[derive(Debug, Clone)]
pub enum Inst {
    /// No `for_each` or `count`.
    Single,
    /// `each.key` and `each.value`.
    Key(String, Value),
    /// `count.index`.
    Index(usize),
}

impl Inst {
    /// `each.key`, or "" for a plain or counted instance.
    pub fn key(&self) -> &str {
        match self {
            Inst::Key(key, _) => key,
            _ => "",
        }
    }

    /// The instance `fn_name` of a resource with `for_each = local.functions`
    /// (this repository's one map of Lambda functions).
    pub fn key_of(fn_name: &str, ev: &Eval) -> R<Inst> {
        let functions = ev
            .locals
            .get("functions")
            .and_then(Value::as_object)
            .ok_or("local.functions")?;
        let value = functions
            .get(fn_name)
            .ok_or_else(|| format!("no function {fn_name}"))?;
        Ok(Inst::Key(fn_name.to_owned(), value.clone()))
    }

    /// The instance `key` of the `for_each` resource `res`.
    pub fn key_of_resource(key: &str, ev: &Eval, res: &Res) -> R<Inst> {
        ev.instances(res)?
            .into_iter()
            .find(|i| i.key() == key)
            .ok_or_else(|| format!("{} has no instance {key:?}", res.address()))
    }
}

/// The `each.key`s of some instances.
pub fn instance_keys(instances: &[Inst]) -> BTreeSet<String> {
    instances.iter().map(|i| i.key().to_owned()).collect()
}

/// Attributes every stand-in resource offers; each evaluates to "<address>.<attribute>".
const STAND_IN_ATTRIBUTES: &[&str] = &[
    "account_id",
    "api_endpoint",
    "arn",
    "execution_arn",
    "function_name",
    "id",
    "invoke_arn",
    "json",
    "key_id",
    "name",
    "partition",
    "qualified_arn",
    "region",
    "stream_arn",
];

/// Variables and locals evaluated once, and the context every other
/// expression is evaluated in.
#[derive(Debug)]
pub struct Eval {
    ctx: Context<'static>,
    /// Every local that could be evaluated.
    pub locals: Map<String, Value>,
}

impl Eval {
    /// Evaluates every local it can, given variable defaults plus `overrides`.
    pub fn new(tf: &Tf, overrides: &[(&str, Value)]) -> R<Eval> {
        let mut vars = Map::new();
        for (name, body) in &tf.variables {
            let default = match attr_expr(body, "default") {
                Some(expr) => expr
                    .evaluate(&Context::new())
                    .map_err(|e| format!("var.{name} default: {e}"))?,
                None => Value::Null,
            };
            vars.insert(name.clone(), default);
        }
        for (name, value) in overrides {
            if !vars.contains_key(*name) {
                return Err(format!("no variable {name}"));
            }
            vars.insert((*name).to_owned(), value.clone());
        }

        // Locals and resources' for_each depend on each other: evaluate until nothing changes.
        let mut locals = Map::new();
        loop {
            let ctx = stand_in_context(tf, &vars, &locals);
            let before = locals.len();
            for (name, expr) in &tf.locals {
                if !locals.contains_key(name)
                    && let Ok(value) = expr.evaluate(&ctx)
                {
                    locals.insert(name.clone(), value);
                }
            }
            if locals.len() == before {
                break;
            }
        }
        let ctx = stand_in_context(tf, &vars, &locals);
        Ok(Eval { ctx, locals })
    }

    /// Evaluate an expression outside any resource instance.
    pub fn eval(&self, expr: &Expression) -> R<Value> {
        expr.evaluate(&self.ctx).map_err(|e| e.to_string())
    }

    /// `local.<name>`, which must be a string.
    pub fn local_str(&self, name: &str) -> R<String> {
        self.locals
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("local.{name} is not a string (or could not be evaluated)"))
    }

    /// The keys of `local.<name>`, which must be a map.
    pub fn keys_of_local(&self, name: &str) -> R<BTreeSet<String>> {
        Ok(self
            .locals
            .get(name)
            .and_then(Value::as_object)
            .ok_or_else(|| format!("local.{name} is not a map (or could not be evaluated)"))?
            .keys()
            .cloned()
            .collect())
    }

    /// The instances of `res`, from its `for_each` or `count`.
    pub fn instances(&self, res: &Res) -> R<Vec<Inst>> {
        instances(res, &self.ctx)
    }

    fn scope(&self, inst: &Inst) -> Context<'static> {
        let mut ctx = self.ctx.clone();
        match inst {
            Inst::Single => {}
            Inst::Key(key, value) => ctx.declare_var(
                "each",
                object([("key", Value::from(key.as_str())), ("value", value.clone())]),
            ),
            Inst::Index(i) => ctx.declare_var("count", object([("index", Value::from(*i as u64))])),
        }
        ctx
    }

    /// Attribute `name` of instance `inst` of `res`, evaluated.
    pub fn attr(&self, res: &Res, inst: &Inst, name: &str) -> R<Value> {
        let expr = attr_expr(&res.body, name)
            .ok_or_else(|| format!("{} has no attribute {name}", res.address()))?;
        expr.evaluate(&self.scope(inst))
            .map_err(|e| format!("{}[{}].{name}: {e}", res.address(), inst.key()))
    }

    /// [`Eval::attr`], which must be a string.
    pub fn attr_str(&self, res: &Res, inst: &Inst, name: &str) -> R<String> {
        match self.attr(res, inst, name)? {
            Value::String(s) => Ok(s),
            other => Err(format!(
                "{}[{}].{name} is {other}, not a string",
                res.address(),
                inst.key()
            )),
        }
    }

    /// The `name` blocks of a resource, static and `dynamic`, evaluated.
    pub fn blocks(&self, res: &Res, inst: &Inst, name: &str) -> R<Vec<Map<String, Value>>> {
        let body = eval_body(&res.body, &self.scope(inst), Some(name))
            .map_err(|e| format!("{}[{}] {name}: {e}", res.address(), inst.key()))?;
        Ok(body
            .get(name)
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| b.as_object().cloned())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The one `name` block of `res` (an error if there are none or several).
    pub fn single_block(&self, res: &Res, inst: &Inst, name: &str) -> R<Map<String, Value>> {
        let mut blocks = self.blocks(res, inst, name)?;
        if blocks.len() != 1 {
            return Err(format!(
                "{}[{}]: expected one {name} block, found {}",
                res.address(),
                inst.key(),
                blocks.len()
            ));
        }
        Ok(blocks.remove(0))
    }

    /// `templatefile(path, { … })`: the evaluated path and variables.
    pub fn templatefile_call(&self, res: &Res, attr: &str) -> R<(String, Map<String, Value>)> {
        let Some(Expression::FuncCall(call)) = attr_expr(&res.body, attr) else {
            return Err(format!(
                "{}.{attr} must be a templatefile() call",
                res.address()
            ));
        };
        let (Some(path), Some(Expression::Object(vars)), 2) =
            (call.args.first(), call.args.get(1), call.args.len())
        else {
            return Err(format!(
                "{}.{attr}: templatefile(path, {{ … }}) with a literal map",
                res.address()
            ));
        };
        if call.name.name.as_str() != "templatefile" {
            return Err(format!(
                "{}.{attr} must be a templatefile() call",
                res.address()
            ));
        }
        let path = self
            .eval(path)?
            .as_str()
            .map(str::to_owned)
            .ok_or("templatefile path is not a string")?;
        let mut out = Map::new();
        for (key, value) in vars.iter() {
            let key = match key {
                ObjectKey::Identifier(id) => id.as_str().to_owned(),
                ObjectKey::Expression(expr) => self
                    .eval(expr)?
                    .as_str()
                    .ok_or("templatefile key")?
                    .to_owned(),
                other => return Err(format!("templatefile key {other:?}")),
            };
            out.insert(key, self.eval(value)?);
        }
        Ok((path, out))
    }
}

/// var, local, path, functions, and a stand-in for every resource and data
/// source whose count/for_each can be evaluated yet.
fn stand_in_context(
    tf: &Tf,
    vars: &Map<String, Value>,
    locals: &Map<String, Value>,
) -> Context<'static> {
    let mut ctx = Context::new();
    declare_functions(&mut ctx);
    ctx.declare_var("var", Value::Object(vars.clone()));
    ctx.declare_var("local", Value::Object(locals.clone()));
    let module = tf.infra.display().to_string();
    ctx.declare_var(
        "path",
        object([
            ("module", Value::from(module.as_str())),
            ("root", Value::from(module.as_str())),
        ]),
    );

    let mut resources: Map<String, Map<String, Value>> = Map::new();
    let mut data: Map<String, Map<String, Value>> = Map::new();
    for res in &tf.resources {
        let Ok(instances) = instances(res, &ctx) else {
            continue;
        };
        let address = res.address();
        let stand_in = |suffix: String| {
            Value::Object(
                STAND_IN_ATTRIBUTES
                    .iter()
                    .map(|a| {
                        (
                            (*a).to_owned(),
                            Value::from(format!("{address}{suffix}.{a}")),
                        )
                    })
                    .collect(),
            )
        };
        let value = match instances.as_slice() {
            [Inst::Single] => stand_in(String::new()),
            _ if attr_expr(&res.body, "count").is_some() => Value::Array(
                instances
                    .iter()
                    .map(|i| stand_in(format!("[{}]", index_of(i))))
                    .collect(),
            ),
            _ => Value::Object(
                instances
                    .iter()
                    .map(|i| (i.key().to_owned(), stand_in(format!("[{}]", i.key()))))
                    .collect(),
            ),
        };
        let target = if res.data { &mut data } else { &mut resources };
        target
            .entry(res.typ.clone())
            .or_default()
            .insert(res.name.clone(), value);
    }
    for (typ, by_name) in resources {
        ctx.declare_var(typ.as_str(), Value::Object(by_name));
    }
    ctx.declare_var(
        "data",
        Value::Object(
            data.into_iter()
                .map(|(t, m)| (t, Value::Object(m)))
                .collect(),
        ),
    );
    ctx
}

fn index_of(inst: &Inst) -> usize {
    match inst {
        Inst::Index(i) => *i,
        _ => 0,
    }
}

fn instances(res: &Res, ctx: &Context) -> R<Vec<Inst>> {
    if let Some(expr) = attr_expr(&res.body, "for_each") {
        let value = expr
            .evaluate(ctx)
            .map_err(|e| format!("{}.for_each: {e}", res.address()))?;
        return match value {
            Value::Object(map) => Ok(map.into_iter().map(|(k, v)| Inst::Key(k, v)).collect()),
            Value::Array(items) => items
                .into_iter()
                .map(|v| {
                    v.as_str()
                        .map(|s| Inst::Key(s.to_owned(), v.clone()))
                        .ok_or("for_each set of non-strings")
                })
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", res.address())),
            other => Err(format!("{}.for_each is {other}", res.address())),
        };
    }
    if let Some(expr) = attr_expr(&res.body, "count") {
        let n = number(
            &expr
                .evaluate(ctx)
                .map_err(|e| format!("{}.count: {e}", res.address()))?,
        )?;
        return Ok((0..n as usize).map(Inst::Index).collect());
    }
    Ok(vec![Inst::Single])
}

const META_ARGUMENTS: &[&str] = &["count", "for_each", "depends_on", "provider", "lifecycle"];

/// Evaluates a body's attributes and blocks (nested blocks become arrays of
/// objects under their name; `dynamic` blocks are expanded). With `only`,
/// just the blocks of that name.
fn eval_body(body: &Body, ctx: &Context, only: Option<&str>) -> R<Map<String, Value>> {
    let mut out = Map::new();
    if only.is_none() {
        for attr in body
            .attributes()
            .filter(|a| !META_ARGUMENTS.contains(&a.key()))
        {
            out.insert(
                attr.key().to_owned(),
                attr.expr()
                    .evaluate(ctx)
                    .map_err(|e| format!("{}: {e}", attr.key()))?,
            );
        }
    }
    for block in body.blocks() {
        let (name, items) = if block.identifier() == "dynamic" {
            let name = block
                .labels()
                .first()
                .map(|l| l.as_str())
                .ok_or("dynamic block without a name")?;
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let for_each =
                attr_expr(block.body(), "for_each").ok_or("dynamic block without for_each")?;
            let iterator = match attr_expr(block.body(), "iterator") {
                Some(Expression::Variable(v)) => v.as_str().to_owned(),
                _ => name.to_owned(),
            };
            let content = block
                .body()
                .blocks()
                .find(|b| b.identifier() == "content")
                .ok_or("dynamic block without content")?;
            let elements: Vec<(Value, Value)> = match for_each
                .evaluate(ctx)
                .map_err(|e| format!("dynamic {name}: {e}"))?
            {
                Value::Object(map) => map.into_iter().map(|(k, v)| (Value::from(k), v)).collect(),
                Value::Array(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (Value::from(i as u64), v))
                    .collect(),
                other => return Err(format!("dynamic {name}: for_each is {other}")),
            };
            let mut items = Vec::new();
            for (key, value) in elements {
                let mut scope = ctx.clone();
                scope.declare_var(iterator.as_str(), object([("key", key), ("value", value)]));
                items.push(Value::Object(eval_body(content.body(), &scope, None)?));
            }
            (name.to_owned(), items)
        } else {
            let name = block.identifier();
            if only.is_some_and(|o| o != name) || META_ARGUMENTS.contains(&name) {
                continue;
            }
            (
                name.to_owned(),
                vec![Value::Object(eval_body(block.body(), ctx, None)?)],
            )
        };
        if let Value::Array(existing) = out.entry(name).or_insert_with(|| Value::Array(Vec::new()))
        {
            existing.extend(items);
        }
    }
    Ok(out)
}

/// The Terraform functions the evaluated expressions use. File functions are
/// stand-ins too: `filebase64sha256(p)` is "filebase64sha256(p)".
fn declare_functions(ctx: &mut Context) {
    let any = || ParamType::Any;
    let f = |params: usize, variadic: bool, func: hcl::eval::Func| {
        let mut builder = FuncDef::builder();
        for _ in 0..params {
            builder = builder.param(any());
        }
        if variadic {
            builder = builder.variadic_param(any());
        }
        builder.build(func)
    };
    ctx.declare_func("keys", f(1, false, tf_keys));
    ctx.declare_func("toset", f(1, false, tf_toset));
    ctx.declare_func("tostring", f(1, false, tf_tostring));
    ctx.declare_func("coalesce", f(0, true, tf_coalesce));
    ctx.declare_func("flatten", f(1, false, tf_flatten));
    ctx.declare_func("contains", f(2, false, tf_contains));
    ctx.declare_func("setproduct", f(0, true, tf_setproduct));
    ctx.declare_func("lower", f(1, false, tf_lower));
    ctx.declare_func("replace", f(3, false, tf_replace));
    ctx.declare_func("trim", f(2, false, tf_trim));
    ctx.declare_func("one", f(1, false, tf_one));
    ctx.declare_func("merge", f(0, true, tf_merge));
    ctx.declare_func("length", f(1, false, tf_length));
    ctx.declare_func("jsonencode", f(1, false, tf_jsonencode));
    ctx.declare_func("filebase64sha256", f(1, false, tf_filebase64sha256));
}

fn arg_str(args: &FuncArgs, i: usize) -> Result<&str, String> {
    args.get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("argument {i} must be a string"))
}

fn arg_array(args: &FuncArgs, i: usize) -> Result<&Vec<Value>, String> {
    args.get(i)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("argument {i} must be a list"))
}

fn tf_keys(args: FuncArgs) -> Result<Value, String> {
    let map = args
        .first()
        .and_then(Value::as_object)
        .ok_or("keys() needs a map")?;
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    Ok(Value::Array(
        keys.into_iter().map(|k| Value::from(k.as_str())).collect(),
    ))
}

fn tf_toset(args: FuncArgs) -> Result<Value, String> {
    let mut items = arg_array(&args, 0)?.clone();
    items.sort_by_key(|v| v.to_string());
    items.dedup();
    Ok(Value::Array(items))
}

fn tf_tostring(args: FuncArgs) -> Result<Value, String> {
    Ok(match &args[0] {
        Value::String(s) => Value::from(s.as_str()),
        Value::Number(n) => Value::from(n.to_string()),
        Value::Bool(b) => Value::from(b.to_string()),
        Value::Null => Value::Null,
        other => return Err(format!("tostring({other})")),
    })
}

fn tf_coalesce(args: FuncArgs) -> Result<Value, String> {
    args.iter()
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .cloned()
        .ok_or_else(|| "coalesce(): no non-null argument".to_owned())
}

fn tf_flatten(args: FuncArgs) -> Result<Value, String> {
    fn flat(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| flat(i, out)),
            other => out.push(other.clone()),
        }
    }
    let mut out = Vec::new();
    flat(&args[0], &mut out);
    Ok(Value::Array(out))
}

fn tf_contains(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(arg_array(&args, 0)?.contains(&args[1])))
}

fn tf_setproduct(args: FuncArgs) -> Result<Value, String> {
    let mut product: Vec<Vec<Value>> = vec![Vec::new()];
    for list in args.iter() {
        let items = list.as_array().ok_or("setproduct() takes lists")?;
        product = product
            .into_iter()
            .flat_map(|prefix| {
                items
                    .iter()
                    .map(move |i| [prefix.clone(), vec![i.clone()]].concat())
            })
            .collect();
    }
    Ok(Value::Array(
        product.into_iter().map(Value::Array).collect(),
    ))
}

fn tf_lower(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(arg_str(&args, 0)?.to_lowercase()))
}

fn tf_replace(args: FuncArgs) -> Result<Value, String> {
    let (s, pattern, with) = (arg_str(&args, 0)?, arg_str(&args, 1)?, arg_str(&args, 2)?);
    match pattern.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
        Some(re) => {
            let re = regex::Regex::new(re).map_err(|e| e.to_string())?;
            Ok(Value::from(re.replace_all(s, with).into_owned()))
        }
        None => Ok(Value::from(s.replace(pattern, with))),
    }
}

fn tf_trim(args: FuncArgs) -> Result<Value, String> {
    let cut = arg_str(&args, 1)?;
    Ok(Value::from(
        arg_str(&args, 0)?.trim_matches(|c| cut.contains(c)),
    ))
}

fn tf_one(args: FuncArgs) -> Result<Value, String> {
    match arg_array(&args, 0)?.as_slice() {
        [] => Ok(Value::Null),
        [one] => Ok(one.clone()),
        _ => Err("one() of more than one element".to_owned()),
    }
}

fn tf_merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = Map::new();
    for arg in args.iter() {
        out.extend(arg.as_object().ok_or("merge() takes maps")?.clone());
    }
    Ok(Value::Object(out))
}

fn tf_length(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(match &args[0] {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        Value::String(s) => s.chars().count(),
        other => return Err(format!("length({other})")),
    } as u64))
}

fn tf_jsonencode(args: FuncArgs) -> Result<Value, String> {
    serde_json::to_string(&args[0])
        .map(Value::from)
        .map_err(|e| e.to_string())
}

fn tf_filebase64sha256(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(format!(
        "filebase64sha256({})",
        arg_str(&args, 0)?
    )))
}

// ---------------------------------------------------------------------------
// Small helpers on bodies and values

/// The expression of attribute `name` of `body`, if it has one.
pub fn attr_expr<'a>(body: &'a Body, name: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key() == name)
        .map(|a| a.expr())
}

/// An object value from literal entries.
pub fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// The string at `key` of an evaluated block or object.
pub fn get_str(map: &Map<String, Value>, key: &str) -> R<String> {
    map.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{key} is missing or not a string"))
}

/// A list of strings.
pub fn strings(value: &Value) -> R<Vec<String>> {
    value
        .as_array()
        .ok_or_else(|| format!("{value} is not a list"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{v} is not a string"))
        })
        .collect()
}

/// A number, as f64.
pub fn number(value: &Value) -> R<f64> {
    value
        .as_number()
        .and_then(|n| n.as_f64())
        .ok_or_else(|| format!("{value} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module of `text` in `/w/infra`, evaluated with its defaults.
    fn module(text: &str) -> R<(Tf, Eval)> {
        let tf = Tf::parse(Path::new("/w/infra"), text)?;
        let ev = Eval::new(&tf, &[])?;
        Ok((tf, ev))
    }

    /// `expr` evaluated as the attribute of a plain resource.
    fn eval(expr: &str) -> R<Value> {
        let (tf, ev) = module(&format!("resource \"t\" \"r\" {{\n  v = {expr}\n}}\n"))?;
        ev.attr(tf.resource("t", "r")?, &Inst::Single, "v")
    }

    fn list(items: &[&str]) -> Value {
        Value::from(items.to_vec())
    }

    #[test]
    fn stand_in_evaluation_names_resources_by_address() -> R<()> {
        let tf = Tf::parse(
            Path::new("/w/infra"),
            r#"
            variable "n" {
              type    = number
              default = 2
            }
            locals {
              keys = toset(["b", "a"])
              arns = [for k in local.keys : aws_thing.each[k].arn]
            }
            resource "aws_thing" "each" {
              for_each = local.keys
              name     = "x-${each.key}"
            }
            resource "aws_thing" "counted" {
              count = var.n
            }
            "#,
        )?;
        let ev = Eval::new(&tf, &[])?;
        assert_eq!(
            ev.locals.get("arns"),
            Some(&Value::from(vec![
                "aws_thing.each[a].arn",
                "aws_thing.each[b].arn"
            ]))
        );
        let each = tf.resource("aws_thing", "each")?;
        assert_eq!(
            ev.attr_str(each, &Inst::key_of_resource("b", &ev, each)?, "name")?,
            "x-b"
        );
        assert_eq!(ev.instances(tf.resource("aws_thing", "counted")?)?.len(), 2);
        Ok(())
    }

    #[test]
    fn locals_resolve_in_any_order_and_variables_can_be_overridden() -> R<()> {
        let tf = Tf::parse(
            Path::new("/w/infra"),
            r#"
            variable "env" {
              default = "dev"
            }
            locals {
              name   = "${local.prefix}-${var.env}"
              prefix = "saga"
              module = path.module
            }
            "#,
        )?;
        let ev = Eval::new(&tf, &[])?;
        assert_eq!(ev.local_str("name")?, "saga-dev");
        assert_eq!(ev.local_str("module")?, "/w/infra");
        assert_eq!(tf.root, Path::new("/w"));

        let prod = Eval::new(&tf, &[("env", Value::from("prod"))])?;
        assert_eq!(prod.local_str("name")?, "saga-prod");

        let err = Eval::new(&tf, &[("nope", Value::from("x"))]).unwrap_err();
        assert_eq!(err, "no variable nope");
        Ok(())
    }

    #[test]
    fn a_local_that_cannot_be_evaluated_is_reported_when_asked_for() -> R<()> {
        let (_, ev) = module("locals {\n  broken = var.missing\n  map = { a = 1 }\n}\n")?;
        assert!(!ev.locals.contains_key("broken"));
        let err = ev.local_str("broken").unwrap_err();
        assert!(err.contains("local.broken is not a string"), "{err}");
        assert!(ev.keys_of_local("broken").is_err());
        assert_eq!(ev.keys_of_local("map")?, BTreeSet::from(["a".to_owned()]));
        Ok(())
    }

    #[test]
    fn for_each_over_a_map_gives_each_key_and_value() -> R<()> {
        let (tf, ev) = module(
            r#"
            locals {
              functions = { pay = { memory = 128 }, ship = { memory = 256 } }
            }
            resource "aws_lambda_function" "this" {
              for_each    = local.functions
              memory_size = each.value.memory
              role        = aws_iam_role.fn[each.key].arn
            }
            resource "aws_iam_role" "fn" {
              for_each = local.functions
            }
            "#,
        )?;
        let lambda = tf.resource("aws_lambda_function", "this")?;
        let instances = ev.instances(lambda)?;
        assert_eq!(
            instance_keys(&instances),
            BTreeSet::from(["pay".to_owned(), "ship".to_owned()])
        );
        let ship = Inst::key_of("ship", &ev)?;
        assert_eq!(number(&ev.attr(lambda, &ship, "memory_size")?)?, 256.0);
        assert_eq!(
            ev.attr_str(lambda, &ship, "role")?,
            "aws_iam_role.fn[ship].arn"
        );
        let err = Inst::key_of("validate", &ev).unwrap_err();
        assert_eq!(err, "no function validate");
        let err = Inst::key_of_resource("validate", &ev, lambda).unwrap_err();
        assert_eq!(err, "aws_lambda_function.this has no instance \"validate\"");
        Ok(())
    }

    #[test]
    fn count_instances_have_an_index_and_stand_ins_by_index() -> R<()> {
        let (tf, ev) = module(
            r#"
            resource "aws_thing" "counted" {
              count = 3
              name  = "n${count.index}"
            }
            locals {
              second = aws_thing.counted[1].id
            }
            "#,
        )?;
        let counted = tf.resource("aws_thing", "counted")?;
        assert_eq!(ev.attr_str(counted, &Inst::Index(2), "name")?, "n2");
        assert_eq!(ev.local_str("second")?, "aws_thing.counted[1].id");
        Ok(())
    }

    #[test]
    fn data_sources_are_addressed_under_data() -> R<()> {
        let (tf, ev) = module(
            r#"
            data "aws_iam_policy_document" "assume" {}
            locals {
              policy = data.aws_iam_policy_document.assume.json
            }
            "#,
        )?;
        assert_eq!(
            ev.local_str("policy")?,
            "data.aws_iam_policy_document.assume.json"
        );
        assert_eq!(
            tf.data("aws_iam_policy_document", "assume")?.address(),
            "data.aws_iam_policy_document.assume"
        );
        let err = tf
            .resource("aws_iam_policy_document", "assume")
            .unwrap_err();
        assert_eq!(
            err,
            "aws_iam_policy_document.assume is not defined in infra/"
        );
        Ok(())
    }

    #[test]
    fn static_and_dynamic_blocks_are_evaluated_together() -> R<()> {
        let (tf, ev) = module(
            r#"
            locals {
              actions = { read = "s3:GetObject", write = "s3:PutObject" }
            }
            resource "aws_policy" "p" {
              statement {
                actions = ["logs:PutLogEvents"]
              }
              dynamic "statement" {
                for_each = local.actions
                iterator = a
                content {
                  sid     = a.key
                  actions = [a.value]
                }
              }
              tracing_config {
                mode = "Active"
              }
            }
            "#,
        )?;
        let p = tf.resource("aws_policy", "p")?;
        let statements = ev.blocks(p, &Inst::Single, "statement")?;
        let actions = statements
            .iter()
            .map(|s| strings(s.get("actions").unwrap_or(&Value::Null)))
            .collect::<R<Vec<_>>>()?;
        assert_eq!(
            actions,
            vec![
                vec!["logs:PutLogEvents"],
                vec!["s3:GetObject"],
                vec!["s3:PutObject"]
            ]
        );
        assert_eq!(get_str(&statements[2], "sid")?, "write");
        let tracing = ev.single_block(p, &Inst::Single, "tracing_config")?;
        assert_eq!(get_str(&tracing, "mode")?, "Active");
        let err = ev.single_block(p, &Inst::Single, "statement").unwrap_err();
        assert_eq!(err, "aws_policy.p[]: expected one statement block, found 3");
        assert!(ev.blocks(p, &Inst::Single, "absent")?.is_empty());
        Ok(())
    }

    #[test]
    fn templatefile_calls_give_the_path_and_the_variables() -> R<()> {
        let (tf, ev) = module(
            r#"
            resource "aws_sfn_state_machine" "this" {
              definition = templatefile("${path.module}/../sm.json", {
                pay_function_arn = aws_lambda_function.pay.arn
                "timeout"        = 60
              })
              name = "not a call"
            }
            resource "aws_lambda_function" "pay" {}
            "#,
        )?;
        let sm = tf.resource("aws_sfn_state_machine", "this")?;
        let (path, vars) = ev.templatefile_call(sm, "definition")?;
        assert_eq!(path, "/w/infra/../sm.json");
        assert_eq!(
            vars.get("pay_function_arn"),
            Some(&Value::from("aws_lambda_function.pay.arn"))
        );
        assert_eq!(vars.get("timeout"), Some(&Value::from(60u64)));
        let err = ev.templatefile_call(sm, "name").unwrap_err();
        assert_eq!(
            err,
            "aws_sfn_state_machine.this.name must be a templatefile() call"
        );
        Ok(())
    }

    #[test]
    fn the_supported_functions_evaluate_as_terraform_does() -> R<()> {
        let cases: &[(&str, Value)] = &[
            (r#"keys({ b = 1, a = 2 })"#, list(&["a", "b"])),
            (r#"toset(["b", "a", "b"])"#, list(&["a", "b"])),
            (r#"tostring(42)"#, Value::from("42")),
            (r#"tostring(true)"#, Value::from("true")),
            (r#"coalesce(null, "", "x", "y")"#, Value::from("x")),
            (r#"flatten([["a"], [["b"]], "c"])"#, list(&["a", "b", "c"])),
            (r#"contains(["a", "b"], "b")"#, Value::from(true)),
            (r#"contains(["a", "b"], "c")"#, Value::from(false)),
            (
                r#"setproduct(["a", "b"], ["x"])"#,
                Value::from(vec![list(&["a", "x"]), list(&["b", "x"])]),
            ),
            (r#"lower("OrderSaga")"#, Value::from("ordersaga")),
            (r#"replace("a-b-c", "-", "_")"#, Value::from("a_b_c")),
            (
                r#"replace("ab12cd3", "/[0-9]+/", "_")"#,
                Value::from("ab_cd_"),
            ),
            (r#"trim("--x--", "-")"#, Value::from("x")),
            (r#"one([])"#, Value::Null),
            (r#"one(["only"])"#, Value::from("only")),
            (
                r#"merge({ a = 1, b = 1 }, { b = 2 })"#,
                object([("a", Value::from(1u64)), ("b", Value::from(2u64))]),
            ),
            (r#"length({ a = 1 })"#, Value::from(1u64)),
            (r#"length(["a", "b"])"#, Value::from(2u64)),
            (r#"length("héllo")"#, Value::from(5u64)),
            (r#"jsonencode({ a = [1] })"#, Value::from(r#"{"a":[1]}"#)),
            (
                r#"filebase64sha256("f.zip")"#,
                Value::from("filebase64sha256(f.zip)"),
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(&eval(expr)?, want, "{expr}");
        }
        Ok(())
    }

    #[test]
    fn functions_reject_what_terraform_rejects() {
        for (expr, message) in [
            (r#"one(["a", "b"])"#, "one() of more than one element"),
            (r#"keys(["a"])"#, "keys() needs a map"),
            (r#"merge({ a = 1 }, ["b"])"#, "merge() takes maps"),
            (r#"coalesce(null, "")"#, "coalesce(): no non-null argument"),
            (r#"lower(1)"#, "argument 0 must be a string"),
            (r#"contains("a", "a")"#, "argument 0 must be a list"),
            (r#"length(1)"#, "length(1)"),
            (r#"nosuchfunction(1)"#, "nosuchfunction"),
        ] {
            let err = eval(expr).unwrap_err();
            assert!(
                err.starts_with("t.r[].v: ") && err.contains(message),
                "{expr}: {err}"
            );
        }
    }

    #[test]
    fn modules_and_duplicate_locals_are_refused() {
        let err = Tf::parse(
            Path::new("/w/infra"),
            "module \"m\" {\n  source = \"./m\"\n}\n",
        )
        .unwrap_err();
        assert_eq!(err, "modules are not modelled by this check");
        let err = Tf::parse(
            Path::new("/w/infra"),
            "locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\n",
        )
        .unwrap_err();
        assert_eq!(err, "local.a is defined twice");
        assert!(Tf::parse(Path::new("/w/infra"), "resource \"t\" {").is_err());
    }

    #[test]
    fn the_workspace_infra_loads() -> R<()> {
        let tf = Tf::load()?;
        assert_eq!(tf.infra, workspace_root().join("infra"));
        assert!(!tf.resources.is_empty());
        let ev = Eval::new(&tf, &[])?;
        assert!(!ev.keys_of_local("functions")?.is_empty());
        Ok(())
    }
}
