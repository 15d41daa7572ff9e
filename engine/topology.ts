import { StreamsError, TopologyError } from './errors.ts';
import type { Serde, Serializer } from './serde.ts';
import type {
  Processor,
  ProcessorContext,
  ProcessorStore,
  ProcessorSupplier,
  StreamPartitioner,
  TimestampExtractor,
  TopicNameExtractor,
} from './processor.ts';
import type { AnyStore, StoreBuilder } from './state/store.ts';
import type { Sink } from './sink.ts';
import { buildInMemoryStore } from './state/store-stack.ts';
import { versionedView } from './state/versioned.ts';
import { TimeMark } from './internals/committed-time.ts';

export interface SourceNode {
  readonly kind: 'source';
  readonly name: string;
  readonly topics: readonly string[];
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly timestampExtractor: TimestampExtractor | undefined;
  readonly children: string[];
}

export interface ProcessorNode {
  readonly kind: 'processor';
  readonly name: string;
  readonly supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>;
  readonly parents: readonly string[];
  readonly stores: Set<string>;
  readonly children: string[];
}

export interface SinkNode {
  readonly kind: 'sink';
  readonly name: string;
  readonly topic: string | TopicNameExtractor<unknown, unknown>;
  readonly keySerde: Serializer<unknown>;
  readonly valueSerde: Serializer<unknown>;
  readonly partitioner: StreamPartitioner<unknown, unknown> | undefined;
  readonly parents: readonly string[];
}

export type TopologyNode = SourceNode | ProcessorNode | SinkNode;

export interface GlobalStoreDef {
  readonly store: StoreBuilder;
  readonly sourceName: string;
  readonly topic: string;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly timestampExtractor: TimestampExtractor | undefined;
  readonly processorName: string;
  readonly supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>;
}

/**
 * A sink the topology hands a stream to (KStream.toSink): the stream is written to `topic` (an
 * internal topic), and `startSinks` (connectors/sinks) runs a SinkRunner from it into `factory()`.
 */
export interface SinkDeclaration {
  readonly name: string;
  readonly topic: string;
  readonly factory: () => Sink<unknown, unknown>;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
}

export interface InternalTopic {
  readonly name: string;
  readonly type: 'repartition' | 'changelog';
  /** Changelogs are compacted; window and session changelogs also expire (compact,delete). */
  readonly cleanupPolicy: 'delete' | 'compact' | 'compact,delete';
  /** For repartition topics: a fixed partition count, else that of the upstream sub-topology. */
  readonly numPartitions?: number;
  /**
   * For repartition topics read by another table's tasks (the foreign-key join's subscription and
   * response topics): as many partitions as these topics have (the largest), not as the writer.
   */
  readonly partitionsOf?: readonly string[];
}

export interface Subtopology {
  readonly id: number;
  readonly nodes: readonly TopologyNode[];
  readonly sourceTopics: readonly string[];
  readonly sinkTopics: readonly string[];
  readonly stores: readonly string[];
}

export interface SourceOptions<K, V> {
  topics: string | readonly string[];
  key: Serde<K>;
  value: Serde<V>;
  timestampExtractor?: TimestampExtractor<K, V>;
}

export interface SinkOptions<K, V> {
  topic: string | TopicNameExtractor<K, V>;
  key: Serializer<K>;
  value: Serializer<V>;
  partitioner?: StreamPartitioner<K, V>;
}

export interface GlobalStoreOptions<K, V> {
  store: StoreBuilder;
  sourceName: string;
  topic: string;
  key: Serde<K>;
  value: Serde<V>;
  timestampExtractor?: TimestampExtractor<K, V>;
  processorName: string;
  processor: ProcessorSupplier<K, V>;
}

const NAME = /^[A-Za-z0-9._-]+$/;

/**
 * A topology: sources, processors, sinks and stores, as a blueprint. It holds descriptions and
 * processor factories, never processor instances: each task (and each worker thread) builds its
 * own instances from the same blueprint.
 *
 * @example
 * const t = new Topology()
 *   .addSource('in', { topics: 'words', key: Serdes.string(), value: Serdes.string() })
 *   .addProcessor('upper', () => new Upper(), 'in')
 *   .addSink('out', { topic: 'upper-words', key: Serdes.string(), value: Serdes.string() }, 'upper');
 */
export class Topology {
  readonly #nodes = new Map<string, TopologyNode>();
  readonly #stores = new Map<string, StoreBuilder>();
  readonly #globalStores = new Map<string, GlobalStoreDef>();
  readonly #internalTopics = new Map<string, InternalTopic>();
  readonly #copartitionGroups: string[][] = [];
  readonly #sinkDeclarations: SinkDeclaration[] = [];
  #subtopologies: Subtopology[] | null = null;

  addSource<K, V>(name: string, options: SourceOptions<K, V>): this {
    this.#checkNewName(name);
    const topics = typeof options.topics === 'string' ? [options.topics] : [...options.topics];
    if (topics.length === 0) throw new TopologyError('INVALID_ARGUMENT', 'a source needs at least one topic', name);
    if (options.key === undefined || options.value === undefined) {
      throw new TopologyError('MISSING_SERDE', 'a source needs a key serde and a value serde', name);
    }
    for (const topic of topics) {
      const owner = this.#sourceOf(topic);
      if (owner !== undefined) {
        throw new TopologyError('INVALID_TOPOLOGY', `topic "${topic}" is already read by source "${owner}"`, name);
      }
    }
    this.#add({
      kind: 'source',
      name,
      topics,
      keySerde: options.key as Serde<unknown>,
      valueSerde: options.value as Serde<unknown>,
      timestampExtractor: options.timestampExtractor as TimestampExtractor | undefined,
      children: [],
    });
    return this;
  }

  addProcessor<KIn, VIn, KOut, VOut>(
    name: string,
    supplier: ProcessorSupplier<KIn, VIn, KOut, VOut>,
    ...parents: string[]
  ): this {
    this.#checkNewName(name);
    if (typeof supplier !== 'function') {
      throw new TopologyError('INVALID_ARGUMENT', 'a processor needs a supplier function', name);
    }
    this.#checkParents(name, parents);
    this.#add({
      kind: 'processor',
      name,
      supplier: supplier as unknown as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      parents,
      stores: new Set(),
      children: [],
    });
    for (const parent of parents) this.#childrenOf(parent).push(name);
    return this;
  }

  addSink<K, V>(name: string, options: SinkOptions<K, V>, ...parents: string[]): this {
    this.#checkNewName(name);
    if (options.key === undefined || options.value === undefined) {
      const topic = typeof options.topic === 'string' ? ` to "${options.topic}"` : '';
      throw new TopologyError('MISSING_SERDE', `a sink${topic} needs a key serde and a value serde`, name);
    }
    this.#checkParents(name, parents);
    this.#add({
      kind: 'sink',
      name,
      topic: options.topic as SinkNode['topic'],
      keySerde: options.key as Serializer<unknown>,
      valueSerde: options.value as Serializer<unknown>,
      partitioner: options.partitioner as SinkNode['partitioner'],
      parents,
    });
    for (const parent of parents) this.#childrenOf(parent).push(name);
    return this;
  }

  /** Adds a store and connects it to the named processors. */
  addStateStore(store: StoreBuilder, ...processorNames: string[]): this {
    if (this.#stores.has(store.name) || this.#globalStores.has(store.name)) {
      throw new TopologyError('DUPLICATE_NAME', `store "${store.name}" is already added`, store.name);
    }
    this.#stores.set(store.name, store);
    this.#subtopologies = null;
    if (store.loggingEnabled) {
      const policy = store.supplier.kind === 'key-value' ? 'compact' : 'compact,delete';
      this.#internalTopics.set(changelogTopic(store.name), {
        name: changelogTopic(store.name),
        type: 'changelog',
        cleanupPolicy: policy,
      });
    }
    if (processorNames.length > 0) this.connectProcessorAndStateStores(processorNames[0]!, store.name);
    for (const p of processorNames.slice(1)) this.connectProcessorAndStateStores(p, store.name);
    return this;
  }

  connectProcessorAndStateStores(processorName: string, ...storeNames: string[]): this {
    const node = this.#nodes.get(processorName);
    if (node?.kind !== 'processor') {
      throw new TopologyError('UNKNOWN_NODE', `no processor named "${processorName}" to connect stores to`, processorName);
    }
    for (const store of storeNames) {
      if (!this.#stores.has(store)) {
        throw new TopologyError('UNKNOWN_STORE', `store "${store}" is not in the topology`, processorName);
      }
      node.stores.add(store);
    }
    this.#subtopologies = null;
    return this;
  }

  /**
   * Adds a global store: every task sees all partitions of `topic` through it, read-only.
   * `processor` keeps the store up to date from the topic and must not forward.
   */
  addGlobalStore<K, V>(options: GlobalStoreOptions<K, V>): this {
    const { store } = options;
    if (this.#stores.has(store.name) || this.#globalStores.has(store.name)) {
      throw new TopologyError('DUPLICATE_NAME', `store "${store.name}" is already added`, store.name);
    }
    if (this.#sourceOf(options.topic) !== undefined || this.#globalSourceOf(options.topic) !== undefined) {
      throw new TopologyError('INVALID_TOPOLOGY', `topic "${options.topic}" is already read by another source`, options.sourceName);
    }
    for (const n of [options.sourceName, options.processorName]) this.#checkNewName(n);
    if (options.key === undefined || options.value === undefined) {
      throw new TopologyError('MISSING_SERDE', 'a global store source needs a key serde and a value serde', options.sourceName);
    }
    this.#globalStores.set(store.name, {
      store,
      sourceName: options.sourceName,
      topic: options.topic,
      keySerde: options.key as Serde<unknown>,
      valueSerde: options.value as Serde<unknown>,
      timestampExtractor: options.timestampExtractor as TimestampExtractor | undefined,
      processorName: options.processorName,
      supplier: options.processor as unknown as GlobalStoreDef['supplier'],
    });
    return this;
  }

  /** Marks a topic the application creates and owns (repartition topics written by the DSL). */
  addInternalTopic(name: string, options: { numPartitions?: number; partitionsOf?: readonly string[] } = {}): this {
    this.#internalTopics.set(name, { name, type: 'repartition', cleanupPolicy: 'delete', ...options });
    return this;
  }

  /** Declares a sink fed from the internal topic `declaration.topic` (see SinkDeclaration). */
  addSinkDeclaration(declaration: SinkDeclaration): this {
    if (this.#sinkDeclarations.some((d) => d.name === declaration.name)) {
      throw new TopologyError('INVALID_TOPOLOGY', `two sinks are named "${declaration.name}"`, declaration.name);
    }
    this.#sinkDeclarations.push(declaration);
    return this;
  }

  sinkDeclarations(): readonly SinkDeclaration[] {
    return this.#sinkDeclarations;
  }

  /** Declares topics whose partitions must line up (both sides of a join). */
  addCopartitionGroup(topics: readonly string[]): this {
    this.#copartitionGroups.push([...topics]);
    return this;
  }

  // ---- read side, used by tasks, the runtime and describe() ----

  node(name: string): TopologyNode | undefined {
    return this.#nodes.get(name);
  }

  nodes(): readonly TopologyNode[] {
    return [...this.#nodes.values()];
  }

  storeBuilder(name: string): StoreBuilder | undefined {
    return this.#stores.get(name);
  }

  globalStores(): readonly GlobalStoreDef[] {
    return [...this.#globalStores.values()];
  }

  internalTopics(): readonly InternalTopic[] {
    return [...this.#internalTopics.values()];
  }

  copartitionGroups(): readonly (readonly string[])[] {
    return this.#copartitionGroups;
  }

  /** Every topic read by a (non-global) source. */
  sourceTopics(): string[] {
    return this.nodes().flatMap((n) => (n.kind === 'source' ? [...n.topics] : []));
  }

  /** The source node that reads `topic`. */
  sourceFor(topic: string): SourceNode | undefined {
    const name = this.#sourceOf(topic);
    return name === undefined ? undefined : (this.#nodes.get(name) as SourceNode);
  }

  /**
   * Sub-topologies: nodes connected by parent/child edges or by a shared store. Numbered by the
   * order their first node was added, so numbers are stable for a given program.
   */
  subtopologies(): readonly Subtopology[] {
    if (this.#subtopologies !== null) return this.#subtopologies;
    const parent = new Map<string, string>();
    const find = (x: string): string => {
      let root = x;
      while (parent.get(root) !== root) root = parent.get(root)!;
      parent.set(x, root);
      return root;
    };
    const union = (a: string, b: string) => parent.set(find(a), find(b));
    for (const name of this.#nodes.keys()) parent.set(name, name);
    const storeOwner = new Map<string, string>();
    for (const node of this.#nodes.values()) {
      if (node.kind !== 'source') for (const p of node.parents) union(node.name, p);
      if (node.kind === 'processor') {
        for (const s of node.stores) {
          const other = storeOwner.get(s);
          if (other === undefined) storeOwner.set(s, node.name);
          else union(node.name, other);
        }
      }
    }
    const groups = new Map<string, TopologyNode[]>();
    for (const node of this.#nodes.values()) {
      const root = find(node.name);
      let group = groups.get(root);
      if (group === undefined) groups.set(root, (group = []));
      group.push(node);
    }
    this.#subtopologies = [...groups.values()].map((nodes, id) => ({
      id,
      nodes,
      sourceTopics: nodes.flatMap((n) => (n.kind === 'source' ? n.topics : [])),
      sinkTopics: nodes.flatMap((n) => (n.kind === 'sink' && typeof n.topic === 'string' ? [n.topic] : [])),
      stores: [...new Set(nodes.flatMap((n) => (n.kind === 'processor' ? [...n.stores] : [])))],
    }));
    return this.#subtopologies;
  }

  /**
   * Checks the whole topology: every parent exists, every store is known, and every processor
   * only asks for stores connected to it. The last check builds each processor once with a probe
   * context and runs its `init`, so a processor that reaches for an unconnected store fails here,
   * naming the processor, instead of when the first record arrives.
   */
  validate(): this {
    for (const def of this.#globalStores.values()) {
      this.#probe(def.processorName, def.supplier, new Set([def.store.name]));
    }
    for (const node of this.#nodes.values()) {
      if (node.kind === 'processor') this.#probe(node.name, node.supplier, node.stores);
    }
    return this;
  }

  #probe(
    name: string,
    supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>,
    connected: ReadonlySet<string>,
  ): void {
    let processor: Processor<unknown, unknown, unknown, unknown>;
    try {
      processor = supplier();
    } catch (cause) {
      throw new TopologyError('INVALID_TOPOLOGY', `the processor supplier threw: ${String(cause)}`, name, { cause });
    }
    if (processor === null || typeof processor !== 'object' || typeof processor.process !== 'function') {
      throw new TopologyError('INVALID_TOPOLOGY', 'the processor supplier must return an object with process()', name);
    }
    const stores = new Map<string, AnyStore>();
    const ctx: ProcessorContext = {
      applicationId: 'validate',
      taskId: 'validate',
      nodeName: name,
      forward() {},
      getStateStore: <S extends ProcessorStore>(storeName: string): S => {
        const builder = this.#stores.get(storeName) ?? this.#globalStores.get(storeName)?.store;
        if (builder === undefined) {
          throw new TopologyError('UNKNOWN_STORE', `processor asks for store "${storeName}", which is not in the topology`, name);
        }
        if (!connected.has(storeName) && !this.#globalStores.has(storeName)) {
          throw new TopologyError(
            'STORE_NOT_CONNECTED',
            `processor asks for store "${storeName}", which is not connected to it; connect it with addStateStore or connectProcessorAndStateStores`,
            name,
          );
        }
        let store = stores.get(storeName);
        if (store === undefined) stores.set(storeName, (store = buildInMemoryStore(builder, { recordTimestamp: () => 0 })));
        return (builder.versioned === undefined ? store : versionedView(store, builder)) as S;
      },
      schedule: () => ({ cancel() {} }),
      currentStreamTimeMs: () => Number.NEGATIVE_INFINITY,
      committedTime: () => new TimeMark(),
      currentSystemTimeMs: () => Date.now(),
      recordMetadata: () => undefined,
      recordDropped() {},
    };
    try {
      processor.init?.(ctx);
    } catch (error) {
      if (error instanceof StreamsError) throw error;
      throw new TopologyError('INVALID_TOPOLOGY', `init() threw: ${String(error)}`, name, { cause: error });
    }
  }

  describe(): TopologyDescription {
    return new TopologyDescription(this);
  }

  // ---- internals ----

  #add(node: TopologyNode): void {
    this.#nodes.set(node.name, node);
    this.#subtopologies = null;
  }

  #checkNewName(name: string): void {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new TopologyError('INVALID_ARGUMENT', `a node name must be letters, digits, ".", "_" or "-": ${JSON.stringify(name)}`);
    }
    const globalNames = [...this.#globalStores.values()].flatMap((g) => [g.sourceName, g.processorName]);
    if (this.#nodes.has(name) || globalNames.includes(name)) {
      throw new TopologyError('DUPLICATE_NAME', `two operators are named "${name}"; names must be unique`, name);
    }
  }

  #checkParents(name: string, parents: readonly string[]): void {
    if (parents.length === 0) throw new TopologyError('INVALID_TOPOLOGY', 'a processor or sink needs at least one parent', name);
    for (const p of parents) {
      const node = this.#nodes.get(p);
      if (node === undefined) throw new TopologyError('UNKNOWN_NODE', `parent "${p}" is not in the topology`, name);
      if (node.kind === 'sink') throw new TopologyError('INVALID_TOPOLOGY', `parent "${p}" is a sink and cannot have children`, name);
    }
  }

  #childrenOf(name: string): string[] {
    const node = this.#nodes.get(name)!;
    if (node.kind === 'sink') throw new StreamsError('INVALID_TOPOLOGY', `sink "${name}" cannot have children`);
    return node.children;
  }

  #sourceOf(topic: string): string | undefined {
    for (const n of this.#nodes.values()) if (n.kind === 'source' && n.topics.includes(topic)) return n.name;
    return undefined;
  }

  #globalSourceOf(topic: string): string | undefined {
    for (const g of this.#globalStores.values()) if (g.topic === topic) return g.sourceName;
    return undefined;
  }
}

/** The changelog topic of a store, before the application id prefix the runtime adds. */
export function changelogTopic(storeName: string): string {
  return `${storeName}-changelog`;
}

/** A printable and inspectable description, in the layout of Kafka Streams' `describe()`. */
export class TopologyDescription {
  readonly subtopologies: readonly Subtopology[];
  readonly globalStores: readonly { id: number; store: string; source: string; topic: string; processor: string }[];
  readonly internalTopics: readonly InternalTopic[];

  constructor(topology: Topology) {
    this.subtopologies = topology.subtopologies();
    this.globalStores = topology.globalStores().map((g, i) => ({
      id: this.subtopologies.length + i,
      store: g.store.name,
      source: g.sourceName,
      topic: g.topic,
      processor: g.processorName,
    }));
    this.internalTopics = topology.internalTopics();
  }

  toString(): string {
    const lines = ['Topologies:'];
    for (const sub of this.subtopologies) {
      lines.push(`   Sub-topology: ${sub.id}`);
      for (const node of sub.nodes) {
        switch (node.kind) {
          case 'source':
            lines.push(`    Source: ${node.name} (topics: [${node.topics.join(', ')}])`);
            break;
          case 'processor':
            lines.push(`    Processor: ${node.name} (stores: [${[...node.stores].join(', ')}])`);
            break;
          case 'sink':
            lines.push(`    Sink: ${node.name} (${typeof node.topic === 'string' ? `topic: ${node.topic}` : 'topic extractor'})`);
            break;
        }
        if (node.kind !== 'sink') lines.push(`      --> ${node.children.length > 0 ? node.children.join(', ') : 'none'}`);
        if (node.kind !== 'source') lines.push(`      <-- ${node.parents.join(', ')}`);
      }
      lines.push('');
    }
    for (const g of this.globalStores) {
      lines.push(`  Sub-topology: ${g.id} for global store (will not generate tasks)`);
      lines.push(`    Source: ${g.source} (topics: [${g.topic}])`);
      lines.push(`      --> ${g.processor}`);
      lines.push(`    Processor: ${g.processor} (stores: [${g.store}])`);
      lines.push(`      <-- ${g.source}`);
      lines.push('');
    }
    if (this.internalTopics.length > 0) {
      lines.push('Internal topics:');
      for (const t of this.internalTopics) lines.push(`    ${t.type}: ${t.name} (cleanup.policy=${t.cleanupPolicy})`);
    }
    return lines.join('\n');
  }
}
