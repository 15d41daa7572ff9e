/**
 * The package's public surface, snapshotted (as Kysely's test:exports does): every export of each
 * entry point with its kind and type, and the public members of exported classes and interfaces.
 * A change to the surface fails this test until public-api.snapshot.txt is updated with it, so it
 * shows in review: `UPDATE_API_SNAPSHOT=1 node --test test/package/public-api.test.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dirname, '..', '..');
const snapshotFile = join(import.meta.dirname, 'public-api.snapshot.txt');
/** The entry points of package.json's exports map, by their sources. */
const entries: Record<string, string> = {
  tributary: 'index.ts',
  'tributary/spi': 'spi.ts',
  'tributary/features': 'features/index.ts',
  'tributary/connectors/embedded': 'connectors/embedded/index.ts',
  'tributary/connectors/kafka': 'connectors/kafka/index.ts',
  'tributary/connectors/sinks': 'connectors/sinks/index.ts',
  'tributary/connectors/sinks/postgres': 'connectors/sinks/postgres/index.ts',
  'tributary/connectors/sinks/duckdb': 'connectors/sinks/duckdb/index.ts',
  'tributary/connectors/sinks/redis': 'connectors/sinks/redis/index.ts',
  'tributary/connectors/sinks/lake': 'connectors/sinks/lake/index.ts',
  'tributary/connectors/schema-registry': 'connectors/schema-registry/index.ts',
};

function describeSurface(): string {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const program = ts.createProgram(
    Object.values(entries).map((f) => join(root, f)),
    config.options,
  );
  const checker = program.getTypeChecker();
  const flags = ts.TypeFormatFlags.NoTruncation;
  const typeText = (type: ts.Type) => checker.typeToString(type, undefined, flags);
  const members = (type: ts.Type, at: ts.Node, prefix: string) =>
    checker
      .getPropertiesOfType(type)
      .filter((p) => !p.name.startsWith('__@') && !p.name.startsWith('#') && p.name !== 'prototype')
      // Only members declared here: what Error or a Node type brings along is not our surface.
      .filter((p) => p.declarations?.some((d) => !d.getSourceFile().fileName.includes('/node_modules/')) ?? false)
      .filter((p) => !(p.valueDeclaration && ts.getCombinedModifierFlags(p.valueDeclaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)))
      .map((p) => `  ${prefix}${p.name}${p.flags & ts.SymbolFlags.Optional ? '?' : ''}: ${typeText(checker.getTypeOfSymbolAtLocation(p, at))}`)
      .sort();
  const lines: string[] = [];
  for (const [name, file] of Object.entries(entries)) {
    lines.push(`# ${name}`);
    const source = program.getSourceFile(join(root, file))!;
    const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(source)!).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const exported of exports) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const at = symbol.declarations?.[0] ?? source;
      if (symbol.flags & ts.SymbolFlags.Class) {
        const statics = checker.getTypeOfSymbolAtLocation(symbol, at);
        lines.push(`class ${exported.name}`);
        for (const signature of statics.getConstructSignatures()) {
          if (!(signature.declaration && ts.getCombinedModifierFlags(signature.declaration) & ts.ModifierFlags.Private)) lines.push(`  new${checker.signatureToString(signature, undefined, flags)}`);
        }
        lines.push(...members(statics, at, 'static '), ...members(checker.getDeclaredTypeOfSymbol(symbol), at, ''));
      } else if (symbol.flags & ts.SymbolFlags.Interface) {
        lines.push(`interface ${exported.name}`, ...members(checker.getDeclaredTypeOfSymbol(symbol), at, ''));
      } else if (symbol.flags & ts.SymbolFlags.TypeAlias) {
        lines.push(`type ${exported.name} = ${checker.typeToString(checker.getDeclaredTypeOfSymbol(symbol), undefined, flags | ts.TypeFormatFlags.InTypeAlias)}`);
      } else if (symbol.flags & ts.SymbolFlags.Function) {
        for (const signature of checker.getTypeOfSymbolAtLocation(symbol, at).getCallSignatures()) lines.push(`function ${exported.name}${checker.signatureToString(signature, undefined, flags)}`);
      } else {
        lines.push(`const ${exported.name}: ${typeText(checker.getTypeOfSymbolAtLocation(symbol, at))}`);
      }
    }
    lines.push('');
  }
  // Paths of this machine never belong in the snapshot.
  return lines.join('\n').replaceAll(root, '<root>');
}

test('the public API is the snapshot (update it with UPDATE_API_SNAPSHOT=1 when a change is meant)', () => {
  const surface = describeSurface();
  if (process.env['UPDATE_API_SNAPSHOT'] === '1') writeFileSync(snapshotFile, surface);
  assert.equal(surface, readFileSync(snapshotFile, 'utf8'));
});

test('no internals in the root: tasks, the log RPC, codecs, hashing and in-memory store factories', () => {
  const surface = describeSurface();
  const root = surface.slice(0, surface.indexOf('# tributary/spi'));
  for (const internal of ['StreamTask', 'GlobalStateTask', 'LogClient', 'serveLog', 'encodeRecordBatch', 'decodeRecordBatch', 'murmur2', 'createInMemoryStore', 'parseKey', 'parseRecords']) {
    assert.doesNotMatch(root, new RegExp(`^(class|const|function|type|interface) ${internal}\\b`, 'm'), internal);
  }
  // DSL handles are reached through module-private symbols, never through a public member.
  for (const dsl of ['KStream', 'KTable', 'GlobalKTable', 'KGroupedStream', 'KGroupedTable']) {
    const block = new RegExp(`^class ${dsl}\n((?: {2}.*\n)*)`, 'm').exec(surface)?.[1];
    assert.ok(block !== undefined, dsl);
    assert.doesNotMatch(block, /^ {2}(handle|addBranches|repartitionedIfNeeded|input):/m, dsl);
    assert.match(block, /^ {2}new<K, V>\(_: typeof internal, /m, `${dsl} is constructed with a module-private symbol only`);
  }
});
