/**
 * Topic administration (the log's use of Kafka's Admin client): creating topics (and waiting until
 * every broker's metadata shows them), describing them (partitions and cleanup policy) and deleting
 * consumed records. Conflicts and missing topics fail with codes (TOPIC_CONFLICT, INVALID_OFFSET).
 */
import type { Admin } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import type { CleanupPolicy, TopicConfig, TopicPartition } from '../../engine/log.ts';
import { brokerError, type Calls } from './calls.ts';
import type { KafkaLogOptions } from './kafka-log-options.ts';
import type { Metadata } from './metadata.ts';

export interface TopicAdminOptions {
  readonly calls: Calls;
  readonly admin: Admin;
  readonly metadata: Metadata;
  readonly options: KafkaLogOptions;
}

export class TopicAdmin {
  readonly #calls: Calls;
  readonly #admin: Admin;
  readonly #metadata: Metadata;
  readonly #options: KafkaLogOptions;

  constructor(o: TopicAdminOptions) {
    this.#calls = o.calls;
    this.#admin = o.admin;
    this.#metadata = o.metadata;
    this.#options = o.options;
  }

  async createTopic(name: string, config: TopicConfig): Promise<void> {
    await this.#calls.run(`creating topic "${name}"`, async () => {
      const configs: { name: string; value: string }[] = [{ name: 'cleanup.policy', value: config.cleanupPolicy }];
      if (config.retentionMs !== undefined) configs.push({ name: 'retention.ms', value: String(config.retentionMs) });
      if (config.retentionBytes !== undefined) configs.push({ name: 'retention.bytes', value: String(config.retentionBytes) });
      try {
        await this.#admin.createTopics({ topics: [name], partitions: config.partitions, replicas: this.#options.replicationFactor ?? -1, configs });
        // The controller has the topic; wait until the brokers' metadata shows it with its leaders,
        // so that whoever is told "created" (another process, another client) can use it at once.
        for (let attempt = 0; ; attempt++) {
          const t = (await this.#metadata.read({ topics: [name], forceUpdate: true }).catch(() => undefined))?.topics.get(name);
          if (t !== undefined && t.partitionsCount === config.partitions && t.partitions.every((p) => p.leader >= 0)) break;
          if (attempt >= 50) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } catch (error) {
        if (!brokerError(error, 'TOPIC_ALREADY_EXISTS')) throw error;
        const existing = (await this.#describe([name])).get(name);
        if (existing !== undefined && (existing.partitions !== config.partitions || existing.cleanupPolicy !== config.cleanupPolicy)) {
          throw new StreamsError(
            'TOPIC_CONFLICT',
            `topic "${name}" exists with ${existing.partitions} partitions (${existing.cleanupPolicy}), not ${config.partitions} (${config.cleanupPolicy}); ` +
              'delete it or use a matching configuration',
          );
        }
      }
    });
  }

  async topics(): Promise<ReadonlyMap<string, TopicConfig>> {
    return this.#calls.run('listing topics', async () => {
      const names = await this.#admin.listTopics({ includeInternals: false });
      try {
        return await this.#describe(names);
      } catch (error) {
        // A topic deleted between the listing and the description: describe what is left.
        const left = new Set(await this.#admin.listTopics({ includeInternals: false }));
        if (names.every((n) => left.has(n))) throw error;
        return this.#describe(names.filter((n) => left.has(n)));
      }
    });
  }

  async #describe(names: readonly string[]): Promise<Map<string, TopicConfig>> {
    const out = new Map<string, TopicConfig>();
    if (names.length === 0) return out;
    const metadata = await this.#metadata.read({ topics: [...names], forceUpdate: true });
    this.#metadata.learnBrokers(metadata);
    const configs = await this.#admin.describeConfigs({
      resources: names.map((resourceName) => ({ resourceType: 2 /* TOPIC */, resourceName, configurationKeys: ['cleanup.policy', 'retention.ms', 'retention.bytes'] })),
    });
    for (const name of names) {
      const t = metadata.topics.get(name);
      if (t === undefined) continue;
      this.#metadata.learnTopic(name, t);
      const described = configs.find((c) => c.resourceName === name)?.configs ?? [];
      const value = (key: string) => described.find((c) => c.name === key)?.value ?? undefined;
      const policy = (value('cleanup.policy') ?? 'delete').split(',').sort().join(',') as CleanupPolicy;
      out.set(name, { partitions: t.partitionsCount, cleanupPolicy: policy });
    }
    return out;
  }

  async deleteRecords(tp: TopicPartition, offset: number): Promise<void> {
    await this.#calls.run(`deleting records of ${tp.topic}-${tp.partition}`, async () => {
      try {
        await this.#admin.deleteRecords({ topics: [{ name: tp.topic, partitions: [{ partition: tp.partition, offset: BigInt(offset) }] }] });
      } catch (error) {
        if (brokerError(error, 'OFFSET_OUT_OF_RANGE')) throw new StreamsError('INVALID_OFFSET', `offset ${offset} is past the end of ${tp.topic}-${tp.partition}`, { cause: error });
        throw error;
      }
    });
  }
}
