package tributary.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.internals.SessionWindow;
import org.apache.kafka.streams.kstream.internals.TimeWindow;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The topologies of bench/topologies.ts with Kafka Streams, for bench/compare.ts.
 *
 * <pre>
 *   java -jar target/kafka-streams-bench.jar INPUT_TOPIC APPLICATION_ID
 *        --topology mapFilter|countByKey|windowedCount|sessionCount|enrichJoin --output TOPIC
 *        [--profiles TOPIC (enrichJoin)] [--threads 1] [--guarantee exactly_once_v2|at_least_once]
 *        [--commit-interval-ms 100] [--cache-bytes 0|default] [--max-poll-records 1000] [--bootstrap 127.0.0.1:9092]
 *        [--warmup-records N] [--state-dir DIR] [--poll-ms 50] [--timeout-s 900] [--until-stopped]
 *        [--config key=value]...
 * </pre>
 *
 * Runs the topology from the earliest input offset with a fresh application id and exits once the
 * group's committed offsets (of committed transactions: read without requireStable, every --poll-ms) cover the end of every
 * partition of INPUT_TOPIC (enrichJoin's profile topic is read too, but not waited for: its records
 * come first, by timestamp). Measured as bench/end-to-end.ts measures Tributary: wall time and the
 * process's CPU time (OperatingSystemMXBean.getProcessCpuTime, all threads of the JVM: stream
 * threads, client threads, the state updater, GC, JIT) from the moment the application is RUNNING
 * to the moment the offsets are committed. Prints one JSON line {"event":"running"} when RUNNING,
 * and one {"event":"done",...} with the results.
 *
 * With --warmup-records N (the size of the input's warm-up segment) the span is split in two: the
 * warm-up, from RUNNING to the first poll at which the committed offsets cover at least N input
 * records in all (then it prints {"event":"warm"}; a total, not per partition, so that an engine
 * that serves its partitions unevenly is not held in the warm-up), and the measured span, from
 * there to the end of the input. "records",
 * "seconds" and "cpuSeconds" of the done line are then those of the measured span (input records
 * committed after the mark), and the warm-up's are reported apart ("warmupRecords",
 * "warmupSeconds", "warmupCpuSeconds"). The output topic must exist (the broker of
 * scripts/kafka.ts does not create topics on demand); internal topics are created by Kafka Streams.
 *
 * With --until-stopped (the latency runs of bench/compare.ts) it does not wait for the end of the
 * input: it runs until a line arrives on stdin (or stdin ends), then reports the same figures over
 * the span from RUNNING to then, with "records" the input offsets committed by then.
 *
 * Output bytes are those of Tributary's topologies: string keys and values in UTF-8, counts as
 * 8-byte big-endian doubles (Tributary's Serdes.number()), windowed keys (time and session windows)
 * as the key's bytes then the window's start and end as 8-byte big-endian integers (Tributary's
 * Serdes.windowed(); a session's end is its last record's timestamp, inclusive, in both).
 *
 * The record cache (statestore.cache.max.bytes) defaults to 0 here, not Kafka Streams' 10 MiB:
 * every update of a count is emitted (one output and one changelog record per input). --cache-bytes
 * default leaves the setting alone (Kafka Streams' default, 10 MiB per process), which emits and
 * logs fewer updates (at most one per key per commit interval and cache flush).
 */
public final class KafkaStreamsBench {
  private KafkaStreamsBench() {}

  /** A count (Long) written as Tributary's Serdes.number() writes numbers: an 8-byte big-endian double. */
  static final class LongAsDoubleSerde implements Serde<Long> {
    @Override
    public Serializer<Long> serializer() {
      return (topic, value) -> value == null ? null : ByteBuffer.allocate(8).putDouble(value.doubleValue()).array();
    }

    @Override
    public Deserializer<Long> deserializer() {
      return (topic, data) -> data == null ? null : (long) ByteBuffer.wrap(data).getDouble();
    }
  }

  /** A windowed string key as Tributary's Serdes.windowed(Serdes.string()) writes it: UTF-8 key, start, end. */
  static final class WindowedStringSerde implements Serde<Windowed<String>> {
    /** Whether read keys are of session windows (inclusive end) rather than time windows. */
    private final boolean session;

    WindowedStringSerde(boolean session) {
      this.session = session;
    }

    @Override
    public Serializer<Windowed<String>> serializer() {
      return (topic, windowed) -> {
        if (windowed == null) return null;
        byte[] key = windowed.key().getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(key.length + 16)
            .put(key)
            .putLong(windowed.window().start())
            .putLong(windowed.window().end())
            .array();
      };
    }

    @Override
    public Deserializer<Windowed<String>> deserializer() {
      return (topic, data) -> {
        if (data == null) return null;
        ByteBuffer buffer = ByteBuffer.wrap(data);
        int at = data.length - 16;
        String key = new String(data, 0, at, StandardCharsets.UTF_8);
        long start = buffer.getLong(at);
        long end = buffer.getLong(at + 8);
        return new Windowed<>(key, session ? new SessionWindow(start, end) : new TimeWindow(start, end));
      };
    }
  }

  /** What (a) carries between its steps, as the TypeScript version's `{ page, amount }`. */
  record PageAmount(String page, int amount) {}

  /**
   * (a) Stateless: parse the `amount=` field, keep records with an even amount, write `page,amount`.
   * The same three steps as topologies.ts (mapValues, filter, mapValues).
   */
  static Topology mapFilter(String input, String output) {
    StreamsBuilder b = new StreamsBuilder();
    b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
        .mapValues(v -> {
          int at = v.indexOf(";amount=") + 8;
          String page = v.substring(v.indexOf(";page=") + 6, at - 8);
          return new PageAmount(page, Integer.parseInt(v, at, v.indexOf(';', at), 10));
        })
        .filter((k, v) -> v.amount() % 2 == 0)
        .mapValues(v -> v.page() + "," + v.amount())
        .to(output, Produced.with(Serdes.String(), Serdes.String()));
    return b.build();
  }

  /** (b) Count by key (the input is partitioned by key: no repartition topic). */
  static Topology countByKey(String input, String output) {
    StreamsBuilder b = new StreamsBuilder();
    b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
        .groupByKey()
        .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("bench-counts")
            .withKeySerde(Serdes.String())
            .withValueSerde(Serdes.Long()))
        .toStream()
        .to(output, Produced.with(Serdes.String(), new LongAsDoubleSerde()));
    return b.build();
  }

  /**
   * (c) Count per key in 1-minute tumbling windows, no grace, every update emitted (with the cache
   * off). Retention is Kafka Streams' default for a windowed aggregation, size + grace: 1 minute,
   * as Tributary's.
   */
  static Topology windowedCount(String input, String output) {
    StreamsBuilder b = new StreamsBuilder();
    b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
        .groupByKey()
        .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofMinutes(1)))
        .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("bench-windowed-counts")
            .withKeySerde(Serdes.String())
            .withValueSerde(Serdes.Long()))
        .toStream()
        .to(output, Produced.with(new WindowedStringSerde(false), new LongAsDoubleSerde()));
    return b.build();
  }

  /**
   * (d) Count per key in session windows with a 30-minute inactivity gap, no grace, every update
   * emitted (with the cache off: for a record that extends or merges sessions, a tombstone for each
   * session merged away, then the new session). Retention is Kafka Streams' default for a session
   * aggregation, gap + grace: 30 minutes, as Tributary's.
   */
  static Topology sessionCount(String input, String output) {
    StreamsBuilder b = new StreamsBuilder();
    b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
        .groupByKey()
        .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(Duration.ofMinutes(30)))
        .count(Materialized.<String, Long, SessionStore<Bytes, byte[]>>as("bench-session-counts")
            .withKeySerde(Serdes.String())
            .withValueSerde(Serdes.Long()))
        .toStream()
        .to(output, Produced.with(new WindowedStringSerde(true), new LongAsDoubleSerde()));
    return b.build();
  }

  /** The joined value of (e), as topologies.ts writes it: `page,amount,tier,region`. */
  static String enrich(String v, String profile) {
    int at = v.indexOf(";amount=") + 8;
    String page = v.substring(v.indexOf(";page=") + 6, at - 8);
    int amount = Integer.parseInt(v, at, v.indexOf(';', at), 10);
    String tier = profile.substring(5, profile.indexOf(';'));
    int r = profile.indexOf(";region=") + 8;
    return page + "," + amount + "," + tier + "," + profile.substring(r, profile.indexOf(';', r));
  }

  /**
   * (e) Stream-table inner join of the events with the profile table (same keys, co-partitioned):
   * the table with its default materialization (a key-value store with a changelog topic).
   */
  static Topology enrichJoin(String input, String profiles, String output) {
    StreamsBuilder b = new StreamsBuilder();
    KTable<String, String> table = b.table(profiles, Consumed.with(Serdes.String(), Serdes.String()));
    b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
        .join(table, KafkaStreamsBench::enrich, Joined.with(Serdes.String(), Serdes.String(), Serdes.String()))
        .to(output, Produced.with(Serdes.String(), Serdes.String()));
    return b.build();
  }

  static final class Args {
    String input;
    String applicationId;
    String topology;
    String output;
    String profiles;
    boolean untilStopped;
    int threads = 1;
    String guarantee = "exactly_once_v2";
    long commitIntervalMs = 100;
    /** statestore.cache.max.bytes; null: not set (Kafka Streams' default). */
    Long cacheBytes = 0L;
    /** Input records of the warm-up segment; negative: no warm-up phase. */
    long warmupRecords = -1;
    int maxPollRecords = 1000;
    String bootstrap = "127.0.0.1:9092";
    String stateDir;
    long pollMs = 50;
    long timeoutS = 900;
    final Map<String, String> config = new LinkedHashMap<>();

    static Args parse(String[] argv) {
      Args a = new Args();
      List<String> positional = new ArrayList<>();
      for (int i = 0; i < argv.length; i++) {
        String arg = argv[i];
        if (!arg.startsWith("--")) {
          positional.add(arg);
          continue;
        }
        if (arg.equals("--until-stopped")) {
          a.untilStopped = true;
          continue;
        }
        if (i + 1 >= argv.length) throw new IllegalArgumentException(arg + " needs a value");
        String value = argv[++i];
        switch (arg) {
          case "--topology" -> a.topology = value;
          case "--output" -> a.output = value;
          case "--profiles" -> a.profiles = value;
          case "--threads" -> a.threads = Integer.parseInt(value);
          case "--guarantee" -> a.guarantee = value;
          case "--commit-interval-ms" -> a.commitIntervalMs = Long.parseLong(value);
          case "--cache-bytes" -> a.cacheBytes = value.equals("default") ? null : Long.valueOf(value);
          case "--warmup-records" -> a.warmupRecords = Long.parseLong(value);
          case "--max-poll-records" -> a.maxPollRecords = Integer.parseInt(value);
          case "--bootstrap" -> a.bootstrap = value;
          case "--state-dir" -> a.stateDir = value;
          case "--poll-ms" -> a.pollMs = Long.parseLong(value);
          case "--timeout-s" -> a.timeoutS = Long.parseLong(value);
          case "--config" -> {
            int eq = value.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("--config takes key=value, not " + value);
            a.config.put(value.substring(0, eq), value.substring(eq + 1));
          }
          default -> throw new IllegalArgumentException("unknown option " + arg);
        }
      }
      if (positional.size() != 2) throw new IllegalArgumentException("usage: INPUT_TOPIC APPLICATION_ID --topology NAME --output TOPIC [options]");
      a.input = positional.get(0);
      a.applicationId = positional.get(1);
      if (a.topology == null || a.output == null) throw new IllegalArgumentException("--topology and --output are required");
      if (a.topology.equals("enrichJoin") && a.profiles == null) throw new IllegalArgumentException("enrichJoin needs --profiles TOPIC");
      if (!a.guarantee.equals("exactly_once_v2") && !a.guarantee.equals("at_least_once")) {
        throw new IllegalArgumentException("--guarantee is exactly_once_v2 or at_least_once, not " + a.guarantee);
      }
      return a;
    }
  }

  static Topology topology(Args a) {
    return switch (a.topology) {
      case "mapFilter" -> mapFilter(a.input, a.output);
      case "countByKey" -> countByKey(a.input, a.output);
      case "windowedCount" -> windowedCount(a.input, a.output);
      case "sessionCount" -> sessionCount(a.input, a.output);
      case "enrichJoin" -> enrichJoin(a.input, a.profiles, a.output);
      default -> throw new IllegalArgumentException(
          "unknown topology " + a.topology + " (mapFilter, countByKey, windowedCount, sessionCount, enrichJoin)");
    };
  }

  static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  /** A field of /proc/self/status in KiB (VmHWM: peak resident set size), or -1. */
  static long procStatusKiB(String field) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith(field + ":")) return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
      }
    } catch (IOException | RuntimeException e) {
      // not Linux
    }
    return -1;
  }

  static String json(Map<String, Object> fields) {
    return fields.entrySet().stream()
        .map(e -> quote(e.getKey()) + ":" + value(e.getValue()))
        .collect(Collectors.joining(",", "{", "}"));
  }

  @SuppressWarnings("unchecked")
  static String value(Object v) {
    if (v == null) return "null";
    if (v instanceof Number || v instanceof Boolean) return v.toString();
    if (v instanceof Map<?, ?> m) return json((Map<String, Object>) m);
    if (v instanceof List<?> l) return l.stream().map(KafkaStreamsBench::value).collect(Collectors.joining(",", "[", "]"));
    return quote(v.toString());
  }

  static String quote(String s) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        default -> {
          if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
          else out.append(c);
        }
      }
    }
    return out.append('"').toString();
  }

  /** Sum of a stream-thread metric over the threads (e.g. commit-total). */
  static double threadMetric(KafkaStreams streams, String name) {
    double sum = 0;
    for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
      if (e.getKey().name().equals(name) && e.getKey().group().equals("stream-thread-metrics")) {
        Object v = e.getValue().metricValue();
        if (v instanceof Number n) sum += n.doubleValue();
      }
    }
    return sum;
  }

  static void deleteRecursively(Path dir) {
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // best effort
    }
  }

  public static void main(String[] argv) throws Exception {
    Args a;
    try {
      a = Args.parse(argv);
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    Topology topology = topology(a);
    boolean ownStateDir = a.stateDir == null;
    Path stateDir = ownStateDir ? Files.createTempDirectory("kafka-streams-bench-") : Path.of(a.stateDir);

    Properties adminProps = new Properties();
    adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
    adminProps.put(AdminClientConfig.CLIENT_ID_CONFIG, a.applicationId + "-bench-admin");
    try (Admin admin = Admin.create(adminProps)) {
      // The end of the input (read-committed: the last stable offset).
      TopicDescription description = admin.describeTopics(List.of(a.input)).allTopicNames().get().get(a.input);
      Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
      description.partitions().forEach(p -> latest.put(new TopicPartition(a.input, p.partition()), OffsetSpec.latest()));
      Map<TopicPartition, Long> ends = new HashMap<>();
      admin.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get()
          .forEach((tp, info) -> ends.put(tp, info.offset()));
      long records = ends.values().stream().mapToLong(Long::longValue).sum();

      Properties props = new Properties();
      props.put(StreamsConfig.APPLICATION_ID_CONFIG, a.applicationId);
      props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
      props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, a.threads);
      props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, a.guarantee);
      props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, a.commitIntervalMs);
      if (a.cacheBytes != null) props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, a.cacheBytes);
      props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
      props.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), a.maxPollRecords);
      props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
      props.putAll(a.config);

      KafkaStreams streams = new KafkaStreams(topology, props);
      CountDownLatch running = new CountDownLatch(1);
      AtomicReference<Throwable> failure = new AtomicReference<>();
      long[] runningAt = new long[2]; // nanoTime, process CPU nanos
      List<String> states = java.util.Collections.synchronizedList(new ArrayList<>());
      streams.setStateListener((next, previous) -> {
        states.add(next.name());
        if (next == KafkaStreams.State.RUNNING && running.getCount() > 0) {
          runningAt[0] = System.nanoTime();
          runningAt[1] = processCpuNanos();
          running.countDown();
        }
        if (next == KafkaStreams.State.ERROR) running.countDown();
      });
      streams.setUncaughtExceptionHandler(e -> {
        failure.compareAndSet(null, e);
        running.countDown();
        return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
      });

      long startNanos = System.nanoTime();
      streams.start();
      if (!running.await(a.timeoutS, TimeUnit.SECONDS) || runningAt[0] == 0) {
        streams.close(Duration.ofSeconds(10));
        throw new IllegalStateException("not RUNNING: " + streams.state() + (failure.get() == null ? "" : ", " + failure.get()));
      }
      double startupSeconds = (runningAt[0] - startNanos) / 1e9;
      System.out.println(json(Map.of("event", "running", "startupSeconds", startupSeconds)));
      System.out.flush();

      // Without requireStable: the offsets of committed transactions, answered at once (with it, the
      // broker refuses while a transaction holds pending offsets and the admin client retries).
      ListConsumerGroupOffsetsOptions offsetsOptions = new ListConsumerGroupOffsetsOptions().requireStable(false);
      long doneNanos;
      long doneCpu;
      // The warm-up mark (--warmup-records): when reached, and input records committed by then.
      long warmNanos = 0;
      long warmCpu = 0;
      long warmRecords = 0;
      boolean warm = a.warmupRecords < 0;
      if (a.untilStopped) {
        // Until a line on stdin (or its end), then the input offsets committed by then.
        CountDownLatch stop = new CountDownLatch(1);
        Thread stdin = new Thread(() -> {
          try {
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
          } catch (IOException e) {
            // stdin closed: stop as well
          }
          stop.countDown();
        }, "bench-stdin");
        stdin.setDaemon(true);
        stdin.start();
        while (!stop.await(a.pollMs, TimeUnit.MILLISECONDS)) {
          Throwable failed = failure.get();
          if (failed != null || streams.state() == KafkaStreams.State.ERROR) {
            streams.close(Duration.ofSeconds(10));
            throw new IllegalStateException(a.applicationId + " failed: " + streams.state(), failed);
          }
        }
        doneNanos = System.nanoTime();
        doneCpu = processCpuNanos();
        Map<TopicPartition, OffsetAndMetadata> committed =
            admin.listConsumerGroupOffsets(a.applicationId, offsetsOptions).partitionsToOffsetAndMetadata().get();
        records = 0;
        for (TopicPartition tp : ends.keySet()) {
          OffsetAndMetadata c = committed.get(tp);
          records += c == null ? 0 : c.offset();
        }
      } else {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(a.timeoutS);
        long lastReport = System.nanoTime();
        for (;;) {
          Throwable failed = failure.get();
          if (failed != null || streams.state() == KafkaStreams.State.ERROR) {
            streams.close(Duration.ofSeconds(10));
            throw new IllegalStateException(a.applicationId + " failed: " + streams.state(), failed);
          }
          Map<TopicPartition, OffsetAndMetadata> committed =
              admin.listConsumerGroupOffsets(a.applicationId, offsetsOptions).partitionsToOffsetAndMetadata().get();
          long done = 0;
          for (Map.Entry<TopicPartition, Long> end : ends.entrySet()) {
            OffsetAndMetadata c = committed.get(end.getKey());
            done += Math.min(end.getValue(), c == null ? 0 : c.offset());
          }
          if (!warm && done >= a.warmupRecords) {
            warm = true;
            warmNanos = System.nanoTime();
            warmCpu = processCpuNanos();
            warmRecords = done;
            System.out.println(json(Map.of("event", "warm", "warmupRecords", warmRecords)));
            System.out.flush();
          }
          if (done == records) {
            doneNanos = System.nanoTime();
            doneCpu = processCpuNanos();
            break;
          }
          if (System.nanoTime() > deadline) {
            streams.close(Duration.ofSeconds(10));
            throw new IllegalStateException(a.applicationId + ": timed out with " + done + " of " + records + " records committed");
          }
          if (System.nanoTime() - lastReport > 10_000_000_000L) {
            lastReport = System.nanoTime();
            System.err.println("    ... " + done + " of " + records + " committed");
          }
          Thread.sleep(a.pollMs);
        }
      }

      boolean split = a.warmupRecords >= 0 && !a.untilStopped;
      double seconds = (doneNanos - (split ? warmNanos : runningAt[0])) / 1e9;
      double cpuSeconds = (doneCpu - (split ? warmCpu : runningAt[1])) / 1e9;
      if (split) records -= warmRecords;
      double commits = threadMetric(streams, "commit-total");
      Map<String, Object> result = new LinkedHashMap<>();
      result.put("event", "done");
      result.put("engine", "kafka-streams");
      result.put("kafkaStreamsVersion", AppInfoParser.getVersion());
      result.put("topology", a.topology);
      result.put("threads", a.threads);
      result.put("guarantee", a.guarantee);
      result.put("applicationId", a.applicationId);
      result.put("mode", a.untilStopped ? "until-stopped" : "until-drained");
      result.put("records", records);
      result.put("startupSeconds", startupSeconds);
      result.put("seconds", seconds);
      result.put("recordsPerSecond", records / seconds);
      result.put("cpuSeconds", cpuSeconds);
      result.put("cpuSecondsPerMillion", cpuSeconds / (records / 1e6));
      result.put("cores", cpuSeconds / seconds);
      result.put("commits", commits);
      if (split) {
        result.put("warmupRecords", warmRecords);
        result.put("warmupSeconds", (warmNanos - runningAt[0]) / 1e9);
        result.put("warmupCpuSeconds", (warmCpu - runningAt[1]) / 1e9);
      }
      result.put("peakRssMiB", procStatusKiB("VmHWM") / 1024.0);
      result.put("maxHeapMiB", Runtime.getRuntime().maxMemory() / (1024.0 * 1024.0));
      result.put("gc", ManagementFactory.getGarbageCollectorMXBeans().stream().map(GarbageCollectorMXBean::getName).collect(Collectors.toList()));
      result.put("gcSeconds", ManagementFactory.getGarbageCollectorMXBeans().stream().mapToLong(GarbageCollectorMXBean::getCollectionTime).sum() / 1000.0);
      result.put("jvm", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
      result.put("jvmArgs", ManagementFactory.getRuntimeMXBean().getInputArguments());
      result.put("states", new ArrayList<>(states));
      Map<String, Object> config = new LinkedHashMap<>();
      config.put("commit.interval.ms", a.commitIntervalMs);
      config.put("statestore.cache.max.bytes", a.cacheBytes == null ? "default" : a.cacheBytes);
      config.put("max.poll.records", a.maxPollRecords);
      config.put("num.stream.threads", a.threads);
      config.put("processing.guarantee", a.guarantee);
      config.putAll(a.config);
      result.put("config", config);
      System.out.println(json(result));
      System.out.flush();

      streams.close(Duration.ofSeconds(30));
      streams.cleanUp();
    } finally {
      if (ownStateDir) deleteRecursively(stateDir);
    }
    System.exit(0);
  }
}
