/*
 * Apache Kafka's Java client under quotas, for test/t/155_quota_throttle.pl.
 * Run in source-file mode against the jars test/interop/java/build.sh
 * fetched:
 *
 *   java -cp 'test/interop/java/target/lib/*' QuotaProbe.java BOOT COMMAND ARGS...
 *
 *   produce TOPIC CLIENT_ID SECONDS   produce 1000-byte records flat out
 *   consume TOPIC CLIENT_ID SECONDS   consume from the start
 *       both print "per_second b0 b1 ..." (bytes acknowledged or received
 *       in each second), "per_tenth b0 b1 ..." (the same per 100 ms) and
 *       "throttle_max_ms X" (the client's
 *       produce-throttle-time-max or fetch-throttle-time-max metric)
 *   create-topics CLIENT_ID PREFIX N PARTITIONS
 *       N CreateTopics requests of one topic each (the client's newest
 *       version, strict about controller_mutation_rate), without retrying
 *       a quota violation: prints "topic NAME ok|ExceptionClass"
 */
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class QuotaProbe {
    static double metric(Map<MetricName, ? extends Metric> m, String group, String name) {
        for (Map.Entry<MetricName, ? extends Metric> e : m.entrySet())
            if (e.getKey().group().equals(group) && e.getKey().name().equals(name))
                return ((Number) e.getValue().metricValue()).doubleValue();
        return -1;
    }

    /* tenths: bytes per 100 ms; prints them, and per second */
    static void series(long[] tenths) {
        StringBuilder sec = new StringBuilder("per_second");
        StringBuilder ten = new StringBuilder("per_tenth");
        for (int i = 0; i < tenths.length; i += 10) {
            long b = 0;
            for (int j = i; j < i + 10 && j < tenths.length; j++) b += tenths[j];
            sec.append(' ').append(b);
        }
        for (long b : tenths) ten.append(' ').append(b);
        System.out.println(sec);
        System.out.println(ten);
    }

    public static void main(String[] a) throws Exception {
        String boot = a[0], cmd = a[1];
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        if (cmd.equals("produce")) {
            String topic = a[2]; p.put("client.id", a[3]); double secs = Double.parseDouble(a[4]);
            p.put("linger.ms", "5"); p.put("buffer.memory", String.valueOf(2 << 20));
            p.put("max.block.ms", "60000"); p.put("delivery.timeout.ms", "120000");
            long[] bins = new long[((int) secs + 2) * 10];
            long t0 = System.nanoTime();
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                byte[] v = new byte[1000];
                int i = 0;
                while ((System.nanoTime() - t0) / 1e9 < secs) {
                    byte[] k = String.format("%08d", i++).getBytes();
                    pr.send(new ProducerRecord<>(topic, k, v), (md, ex) -> {
                        int s = (int) ((System.nanoTime() - t0) / 1e8);
                        if (ex == null && s < bins.length) synchronized (bins) { bins[s] += 1008; }
                    });
                }
                double t = metric(pr.metrics(), "producer-metrics", "produce-throttle-time-max");
                synchronized (bins) { series(bins); }
                System.out.println("throttle_max_ms " + (long) t);
                pr.close(java.time.Duration.ZERO);
            }
        } else if (cmd.equals("consume")) {
            String topic = a[2]; p.put("client.id", a[3]); double secs = Double.parseDouble(a[4]);
            p.put("group.id", "g-" + a[3]); p.put("auto.offset.reset", "earliest");
            p.put("enable.auto.commit", "false");
            long[] bins = new long[((int) secs + 2) * 10];
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                c.subscribe(List.of(topic));
                long t0 = -1;
                while (t0 < 0 || (System.nanoTime() - t0) / 1e9 < secs) {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(java.time.Duration.ofMillis(100))) {
                        if (t0 < 0) t0 = System.nanoTime();
                        int s = (int) ((System.nanoTime() - t0) / 1e8);
                        if (s < bins.length) bins[s] += r.value().length + (r.key() == null ? 0 : r.key().length);
                    }
                }
                series(bins);
                System.out.println("throttle_max_ms " + (long) metric(c.metrics(), "consumer-fetch-manager-metrics", "fetch-throttle-time-max"));
            }
        } else if (cmd.equals("create-topics")) {
            p.put("client.id", a[2]);
            String prefix = a[3]; int n = Integer.parseInt(a[4]); int parts = Integer.parseInt(a[5]);
            try (Admin ad = Admin.create(p)) {
                for (int i = 0; i < n; i++) {
                    String name = prefix + i;
                    try {
                        ad.createTopics(List.of(new NewTopic(name, parts, (short) 1)),
                                new CreateTopicsOptions().retryOnQuotaViolation(false)).all().get();
                        System.out.println("topic " + name + " ok");
                    } catch (java.util.concurrent.ExecutionException e) {
                        System.out.println("topic " + name + " " + e.getCause().getClass().getSimpleName());
                    }
                }
            }
        } else {
            System.err.println("unknown command " + cmd);
            System.exit(2);
        }
    }
}
