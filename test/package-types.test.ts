// Every type a user can meet through the package's public declarations is exported by name from
// the entry point, so they can write it down: the options of each driver and ledger, what
// `app.storage.upload` takes, what the routes return. Walks the built declarations with the
// TypeScript compiler.
import { test } from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { resolve, sep } from 'node:path'
import ts from 'typescript'

const ENTRY = resolve('dist/plugin/index.d.ts')
const OURS = resolve('dist/plugin') + sep

function isNamedType(node: ts.Declaration): boolean {
  return ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) || ts.isClassDeclaration(node) || ts.isEnumDeclaration(node)
}

test('every type the public declarations mention is exported from the entry point', async (t) => {
  t.ok(existsSync(ENTRY), 'the package is built (npm test builds it first)')
  const program = ts.createProgram([ENTRY], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
  })
  const checker = program.getTypeChecker()
  const entry = program.getSourceFile(ENTRY)!
  const resolveAlias = (symbol: ts.Symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol)
  const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(entry)!).map(resolveAlias))

  const seen = new Set<ts.Symbol>()
  const missing = new Map<string, string>()
  function visit(node: ts.Node, from: string): void {
    // Private members carry no type in declarations, and nothing outside can reach them.
    if (ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)) return
    if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node) || ts.isTypeQueryNode(node)) {
      const name = ts.isTypeReferenceNode(node) ? node.typeName : ts.isTypeQueryNode(node) ? node.exprName : node.expression
      const symbol = checker.getSymbolAtLocation(name)
      if (symbol) follow(resolveAlias(symbol), from)
    }
    ts.forEachChild(node, (child) => visit(child, from))
  }
  function follow(symbol: ts.Symbol, from: string): void {
    if (seen.has(symbol)) return
    seen.add(symbol)
    const declarations = (symbol.declarations ?? []).filter((d) => d.getSourceFile().fileName.startsWith(OURS))
    if (declarations.length === 0) return
    // A type of ours must be exported; one we only add members to (Fastify's) is not ours to export.
    const ours = declarations.length === symbol.declarations!.length
    if (ours && declarations.some(isNamedType) && !exported.has(symbol)) missing.set(symbol.name, from)
    for (const declaration of declarations) visit(declaration, symbol.name)
  }
  for (const symbol of exported) follow(symbol, 'the entry point')
  // What the plugin merges into Fastify's own interfaces (app.storage, route config) is public too.
  for (const file of program.getSourceFiles().filter((f) => f.fileName.startsWith(OURS))) {
    for (const statement of file.statements) {
      if (ts.isModuleDeclaration(statement) && ts.isStringLiteral(statement.name)) visit(statement, `declare module '${statement.name.text}'`)
    }
  }

  t.same(Object.fromEntries(missing), {}, 'types reachable from the public API but not exported (name: where it is used)')
  // Hosts may not skip library checks: our declarations must hold on their own.
  const problems = program
    .getSourceFiles()
    .filter((file) => file.fileName.startsWith(OURS))
    .flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])
    .map((d) => `${d.file?.fileName}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)
  t.same(problems, [], 'the declarations type-check')
  // ...and name only what every install has: our dependencies, the fastify peer and Node's own.
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> }
  const allowed = new Set([...Object.keys(pkg.dependencies), 'fastify'])
  const imported = program
    .getSourceFiles()
    .filter((file) => file.fileName.startsWith(OURS))
    .flatMap((file) => file.statements.filter(ts.isImportDeclaration).map((i) => (i.moduleSpecifier as ts.StringLiteral).text))
    .filter((name) => !name.startsWith('.') && !name.startsWith('node:'))
    .map((name) => (name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0]!))
  t.same([...new Set(imported)].filter((name) => !allowed.has(name)), [], 'no optional package in the public types')
  for (const name of ['UploadInput', 'LocalDiskStoreOptions', 'S3StoreOptions', 'SqliteLedgerOptions', 'FastifySpacesPluginOptions', 'RequestScope']) {
    t.ok([...exported].some((s) => s.name === name), `${name} is exported`)
  }
})
