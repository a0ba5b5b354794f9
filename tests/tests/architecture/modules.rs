//! No crate's modules import each other in a cycle. Reads every crate's module tree from its
//! root (following `mod x;`), collects the `crate::`, `self::` and `super::` paths of its
//! code that is not test-only (in `use` items, in the code, and inside attributes and macros,
//! where `#[utoipa::path(responses(response = crate::…))]` names its types), and reduces
//! each to an edge between two sibling modules: `a::b` naming `c::d` is `a` → `c` under the
//! crate root. A module naming its own ancestor or descendant is no edge. A strongly
//! connected group of siblings is a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::visit::Visit;

type ModPath = Vec<String>;

/// A crate's modules and the paths its code names, by the module naming them.
#[derive(Default)]
struct Crate {
    modules: BTreeSet<ModPath>,
    names: Vec<(ModPath, Vec<String>)>,
}

/// Reads the module tree rooted at `root`; `read` gives a file's text (None: no such file).
fn read_crate(root: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Crate {
    let mut krate = Crate::default();
    krate.modules.insert(Vec::new());
    let mut files = vec![(
        Vec::new(),
        root.to_path_buf(),
        root.parent().unwrap().to_path_buf(),
    )];
    while let Some((module, file, dir)) = files.pop() {
        let text = read(&file).unwrap_or_else(|| panic!("{} is missing", file.display()));
        let syntax = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut reader = Reader {
            krate: &mut krate,
            module,
            dir,
            out_of_line: Vec::new(),
        };
        reader.visit_file(&syntax);
        for (module, dir) in reader.out_of_line {
            let name = module.last().unwrap();
            let flat = dir.join(format!("{name}.rs"));
            let (file, children) = if read(&flat).is_some() {
                (flat, dir.join(name))
            } else {
                (dir.join(name).join("mod.rs"), dir.join(name))
            };
            files.push((module, file, children));
        }
    }
    krate
}

struct Reader<'a> {
    krate: &'a mut Crate,
    module: ModPath,
    /// Where the current module's `mod x;` files are.
    dir: PathBuf,
    /// `mod x;` declarations met: the module, and the directory its file is in.
    out_of_line: Vec<(ModPath, PathBuf)>,
}

impl Reader<'_> {
    fn name(&mut self, segments: Vec<String>) {
        if matches!(
            segments.first().map(String::as_str),
            Some("crate" | "self" | "super")
        ) {
            self.krate.names.push((self.module.clone(), segments));
        }
    }

    /// The `crate::…`, `self::…` and `super::…` paths in tokens no parser reads for us.
    fn scan(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let is_colons = |i: usize| {
            matches!(tokens.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
                && matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == ':')
        };
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => {
                    self.scan(group.stream());
                    i += 1;
                }
                TokenTree::Ident(ident) if is_colons(i + 1) => {
                    let mut segments = vec![ident.to_string()];
                    let mut j = i + 1;
                    while is_colons(j) {
                        match tokens.get(j + 2) {
                            Some(TokenTree::Ident(next)) => {
                                segments.push(next.to_string());
                                j += 3;
                            }
                            _ => break,
                        }
                    }
                    self.name(segments);
                    i = j;
                }
                _ => i += 1,
            }
        }
    }
}

/// Whether an item exists only under `cfg(test)`.
fn test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .meta
                .require_list()
                .is_ok_and(|list| list.tokens.to_string() == "test")
    })
}

fn attrs_of(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item;
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn use_paths(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    use syn::UseTree;
    let with = |ident: &syn::Ident| {
        let mut path = prefix.clone();
        path.push(ident.to_string());
        path
    };
    match tree {
        UseTree::Path(path) => use_paths(&path.tree, with(&path.ident), out),
        UseTree::Name(name) => out.push(with(&name.ident)),
        UseTree::Rename(rename) => out.push(with(&rename.ident)),
        UseTree::Glob(_) => out.push(prefix),
        UseTree::Group(group) => {
            for tree in &group.items {
                use_paths(tree, prefix.clone(), out);
            }
        }
    }
}

impl<'ast> Visit<'ast> for Reader<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !test_only(attrs_of(item)) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let mut module = self.module.clone();
        module.push(item.ident.to_string());
        self.krate.modules.insert(module.clone());
        for attr in &item.attrs {
            self.visit_attribute(attr);
        }
        match &item.content {
            None => self.out_of_line.push((module, self.dir.clone())),
            Some((_, items)) => {
                let outer = std::mem::replace(&mut self.module, module);
                let outer_dir = self.dir.clone();
                self.dir = outer_dir.join(item.ident.to_string());
                for item in items {
                    self.visit_item(item);
                }
                self.module = outer;
                self.dir = outer_dir;
            }
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if item.leading_colon.is_none() {
            let mut paths = Vec::new();
            use_paths(&item.tree, Vec::new(), &mut paths);
            for path in paths {
                self.name(path);
            }
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            self.name(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if let syn::Meta::List(list) = &attr.meta {
            self.scan(list.tokens.clone());
        }
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.scan(mac.tokens.clone());
    }
}

/// The sibling edges of a crate, by their parent module.
fn edges(krate: &Crate) -> BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> {
    let mut edges: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, segments) in &krate.names {
        let mut absolute = match segments[0].as_str() {
            "crate" => Vec::new(),
            _ => from.clone(),
        };
        let mut rest = &segments[..];
        if rest[0] == "crate" || rest[0] == "self" {
            rest = &rest[1..];
        }
        while rest.first().is_some_and(|s| s == "super") {
            absolute.pop();
            rest = &rest[1..];
        }
        absolute.extend(rest.iter().cloned());
        let Some(target) = (0..=absolute.len())
            .rev()
            .map(|n| &absolute[..n])
            .find(|prefix| krate.modules.contains(*prefix))
        else {
            continue;
        };
        let common = from.iter().zip(target).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == target.len() {
            continue; // an ancestor or a descendant
        }
        edges
            .entry(from[..common].to_vec())
            .or_default()
            .entry(from[common].clone())
            .or_default()
            .insert(target[common].clone());
    }
    edges
}

/// The groups of sibling modules that import each other, as readable lines.
fn cycles(krate: &Crate) -> Vec<String> {
    let mut found = Vec::new();
    for (parent, graph) in edges(krate) {
        let under = if parent.is_empty() {
            "the crate root".to_owned()
        } else {
            parent.join("::")
        };
        for group in strongly_connected(&graph) {
            let detail: Vec<String> = group
                .iter()
                .map(|module| {
                    let targets: Vec<&str> = graph[module]
                        .iter()
                        .filter(|t| group.contains(*t))
                        .map(String::as_str)
                        .collect();
                    format!("{module} → {}", targets.join(", "))
                })
                .collect();
            found.push(format!("under {under}: {}", detail.join("; ")));
        }
    }
    found
}

/// Tarjan's algorithm: the strongly connected groups of more than one module.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        groups: Vec<BTreeSet<String>>,
    }
    fn visit<'g>(state: &mut State<'g>, node: &'g str) {
        let n = state.index.len();
        state.index.insert(node, n);
        state.low.insert(node, n);
        state.stack.push(node);
        for next in state.graph.get(node).into_iter().flatten() {
            if !state.index.contains_key(next.as_str()) {
                visit(state, next);
                let low = state.low[next.as_str()].min(state.low[node]);
                state.low.insert(node, low);
            } else if state.stack.contains(&next.as_str()) {
                let low = state.index[next.as_str()].min(state.low[node]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut group = BTreeSet::new();
            while let Some(member) = state.stack.pop() {
                group.insert(member.to_owned());
                if member == node {
                    break;
                }
            }
            if group.len() > 1 {
                state.groups.push(group);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        groups: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.groups
}

/// Every library and binary root of the workspace, relative to it.
fn crate_roots() -> Vec<(String, PathBuf)> {
    let metadata = crate::workspace_metadata();
    let workspace = PathBuf::from(metadata["workspace_root"].as_str().unwrap());
    let mut roots = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        for target in package["targets"].as_array().unwrap() {
            let kinds = target["kind"].as_array().unwrap();
            if kinds.iter().any(|k| k == "lib" || k == "bin") {
                let path = PathBuf::from(target["src_path"].as_str().unwrap());
                let relative = path.strip_prefix(&workspace).unwrap().display().to_string();
                roots.push((relative, path));
            }
        }
    }
    roots
}

#[test]
fn no_crate_has_a_module_cycle() {
    let roots = crate_roots();
    assert!(roots.len() >= 8, "{roots:?}");
    let mut wrong = Vec::new();
    for (name, root) in &roots {
        let found = cycles(&read_crate(root, &|path| {
            std::fs::read_to_string(path).ok()
        }));
        if !found.is_empty() {
            wrong.push(format!("{name}: {}", found.join("\n  ")));
        }
    }
    assert!(wrong.is_empty(), "module cycles:\n{}", wrong.join("\n"));
}

/// The check on a made-up crate: it finds a cycle however it is written, and none where
/// there is none.
#[test]
fn the_check_finds_a_planted_cycle() {
    let check = |files: &[(&str, &str)]| {
        let files: BTreeMap<PathBuf, String> = files
            .iter()
            .map(|(path, text)| (PathBuf::from("/c/src").join(path), (*text).to_owned()))
            .collect();
        cycles(&read_crate(Path::new("/c/src/lib.rs"), &|path| {
            files.get(path).cloned()
        }))
    };
    let lib = ("lib.rs", "mod a; pub mod b; mod c { pub fn f() {} }");
    let a_to_b = ("a.rs", "use crate::b::{x, y::Z};\npub fn z() {}");
    // No way back from b to a: no cycle; a test module's way back does not count.
    assert_eq!(
        check(&[lib, a_to_b, ("b.rs", "pub fn x() {}")]),
        Vec::<String>::new()
    );
    let test_only = "pub fn x() {}\n#[cfg(test)]\nmod tests { use crate::a::z; }";
    assert_eq!(
        check(&[lib, a_to_b, ("b.rs", test_only)]),
        Vec::<String>::new()
    );
    // Each way back: a use, a path in code, an attribute, a macro, `super::`, a folder.
    for back in [
        "use crate::a::z;",
        "pub fn x() { crate::a::z() }",
        "#[utoipa::path(responses((status = 200, response = crate::a::Z)))]\npub fn x() {}",
        "pub fn x() { let _ = vec![crate::a::z()]; }",
        "mod inner { use super::super::a::z; }",
    ] {
        let found = check(&[lib, a_to_b, ("b.rs", back)]);
        assert_eq!(found, vec!["under the crate root: a → b; b → a"], "{back}");
    }
    let found = check(&[
        lib,
        a_to_b,
        ("b/mod.rs", "mod y;"),
        ("b/y.rs", "use crate::c::f;"),
    ]);
    assert_eq!(found, Vec::<String>::new());
    let found = check(&[
        lib,
        a_to_b,
        ("b/mod.rs", "mod y;"),
        ("b/y.rs", "pub struct Z; fn g() { crate::a::z() }"),
    ]);
    assert_eq!(found, vec!["under the crate root: a → b; b → a"]);
}
