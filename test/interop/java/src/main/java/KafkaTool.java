/*
 * KafkaTool: Apache Kafka's Java client (kafka-clients 4.x, the reference
 * implementation) as a command-line program for nagare's tests.
 *
 *   kafka-tool.sh BOOTSTRAP PROPERTIES COMMAND ARGS...
 *
 * PROPERTIES is a Java properties file whose settings go to every client the
 * command makes (producer, consumer, admin): security.protocol,
 * sasl.mechanism, sasl.jaas.config, ssl.truststore.location, ...; "-" for
 * none.  Its settings override the defaults below.
 *
 * Commands, and the tab-separated lines each prints on stdout:
 *
 *   produce TOPIC N [FIRST [PAUSE_MS]]
 *                              idempotent producer, acks=all; records
 *                              key-I / value-I for I = FIRST .. FIRST+N-1
 *                              (FIRST defaults to 0), sent in that order;
 *                              in one transaction if PROPERTIES sets
 *                              transactional.id; with PAUSE_MS, one at a
 *                              time, each acknowledged, then a pause
 *       offset  PARTITION  OFFSET  KEY  VALUE     (one per record, in order)
 *   consume TOPIC N [GROUP]    subscribes as a member of GROUP (default
 *                              kafka-tool), reads N records, commits the
 *                              offsets after them (commitSync), leaves
 *       assigned  TOPIC-PARTITION,...            (at each assignment)
 *       record  PARTITION  OFFSET  KEY  VALUE
 *       committed  PARTITION  OFFSET             (per partition, sorted)
 *   admin-create TOPIC PARTITIONS
 *       created  TOPIC  PARTITIONS  TOPIC-ID
 *   admin-list                 Metadata: every topic with its partitions
 *       topic  NAME  TOPIC-ID  PARTITIONS        (sorted by name)
 *   admin-describe-configs TOPIC
 *       config  NAME  VALUE  SOURCE              (sorted by name)
 *   admin-delete TOPIC
 *       deleted  TOPIC
 *   groups-list
 *       group  GROUP-ID  TYPE  PROTOCOL-TYPE  STATE   (sorted by id)
 *   admin-operations TOPIC GROUP   the authorized operations (Metadata v8+
 *                              and DescribeGroups v3+ with
 *                              includeAuthorizedOperations), sorted
 *       operations  cluster|topic|group  OP,...   ("-" for none, "null"
 *                                                  when not given)
 *   groups-describe GROUP      DescribeGroups and OffsetFetch
 *       group  GROUP-ID  STATE  ASSIGNOR  MEMBERS  COORDINATOR
 *       member  MEMBER-ID  CLIENT-ID  HOST  TOPIC-PARTITION,...
 *       offset  TOPIC  PARTITION  OFFSET         (sorted)
 *   quotas-alter [--validate-only] ENTITY KEY=VALUE|KEY= ...
 *                              AlterClientQuotas of one entity, written
 *                              TYPE=NAME[;TYPE=NAME] (any entity type, a
 *                              NAME of "<default>" for the default); KEY=
 *                              removes the key
 *       altered  ENTITY
 *   quotas-describe [--strict] [TYPE[=NAME]] ...
 *                              DescribeClientQuotas with a filter component
 *                              per argument: TYPE=NAME exact, TYPE=<default>
 *                              the default, TYPE any name of the type
 *       quota  ENTITY  KEY  VALUE                (sorted)
 *
 * On failure it prints "error: CLASS: MESSAGE" (and "caused by: ..." for each
 * cause) on stderr and exits 1; bad arguments exit 2.  Every command gives up
 * after 60 s.  The client's own log (slf4j-simple) goes to stderr at WARN.
 */

import java.io.FileInputStream;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class KafkaTool
{
	private static final long TIMEOUT_MS = 60_000;

	private static final Comparator<TopicPartition> BY_PARTITION =
		Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

	private final String bootstrap;
	private final Properties extra;

	private KafkaTool(String bootstrap, Properties extra)
	{
		this.bootstrap = bootstrap;
		this.extra = extra;
	}

	public static void main(String[] args)
	{
		/* before the first logger exists */
		setDefault("org.slf4j.simpleLogger.defaultLogLevel", "warn");
		setDefault("org.slf4j.simpleLogger.logFile", "System.err");

		if (args.length < 3)
			usage();
		int rc = 0;
		try
		{
			KafkaTool tool = new KafkaTool(args[0], loadProperties(args[1]));
			tool.run(args[2], Arrays.copyOfRange(args, 3, args.length));
		}
		catch (Throwable e)
		{
			printError(e);
			rc = 1;
		}
		System.out.flush();
		System.exit(rc);
	}

	private void run(String command, String[] a) throws Exception
	{
		switch (command)
		{
			case "produce":
				need(a, 2, 4);
				produce(a[0], intArg(a[1]), a.length > 2 ? intArg(a[2]) : 0,
					a.length > 3 ? intArg(a[3]) : 0);
				break;
			case "consume":
				need(a, 2, 3);
				consume(a[0], intArg(a[1]), a.length > 2 ? a[2] : "kafka-tool");
				break;
			case "admin-create":
				need(a, 2, 2);
				adminCreate(a[0], intArg(a[1]));
				break;
			case "admin-list":
				need(a, 0, 0);
				adminList();
				break;
			case "admin-describe-configs":
				need(a, 1, 1);
				adminDescribeConfigs(a[0]);
				break;
			case "admin-delete":
				need(a, 1, 1);
				adminDelete(a[0]);
				break;
			case "groups-list":
				need(a, 0, 0);
				groupsList();
				break;
			case "groups-describe":
				need(a, 1, 1);
				groupsDescribe(a[0]);
				break;
			case "admin-operations":
				need(a, 2, 2);
				adminOperations(a[0], a[1]);
				break;
			case "quotas-alter":
				need(a, 1, Integer.MAX_VALUE);
				quotasAlter(a);
				break;
			case "quotas-describe":
				need(a, 0, Integer.MAX_VALUE);
				quotasDescribe(a);
				break;
			default:
				usage();
		}
	}

	/* ------------------------------------------------------------ clients */

	/* Defaults, then the properties file over them. */
	private Properties config(Map<String, Object> defaults)
	{
		Properties p = new Properties();
		p.put("bootstrap.servers", bootstrap);
		p.put("client.id", "nagare-kafka-tool");
		p.putAll(defaults);
		p.putAll(extra);
		return p;
	}

	private Admin admin()
	{
		return Admin.create(config(Map.of(
			AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT_MS,
			AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 30_000)));
	}

	private void produce(String topic, int n, int first, int pauseMs) throws Exception
	{
		Properties p = config(Map.of(
			ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true",
			ProducerConfig.ACKS_CONFIG, "all",
			ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) TIMEOUT_MS,
			ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) TIMEOUT_MS,
			ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 30_000,
			ProducerConfig.LINGER_MS_CONFIG, 5));
		boolean transactional = p.containsKey(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
		KafkaProducer<String, String> producer =
			new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());

		try
		{
			if (transactional)
			{
				producer.initTransactions();
				producer.beginTransaction();
			}
			List<Future<RecordMetadata>> sent = new ArrayList<>();
			for (int i = first; i < first + n; i++)
			{
				sent.add(producer.send(new ProducerRecord<>(topic, "key-" + i, "value-" + i)));
				if (pauseMs > 0)
				{
					/* one record at a time, on the same connection */
					sent.get(i - first).get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
					Thread.sleep(pauseMs);
				}
			}
			if (transactional)
				producer.commitTransaction();
			else
				producer.flush();
			for (int i = 0; i < n; i++)
			{
				RecordMetadata m = sent.get(i).get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
				System.out.println(String.join("\t", "offset", String.valueOf(m.partition()),
					String.valueOf(m.offset()), "key-" + (first + i), "value-" + (first + i)));
			}
		}
		finally
		{
			/* after a failure, do not wait for what is still in flight */
			producer.close(Duration.ofSeconds(5));
		}
	}

	private void consume(String topic, int n, String group) throws Exception
	{
		Properties p = config(Map.of(
			ConsumerConfig.GROUP_ID_CONFIG, group,
			ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic",
			ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
			ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false",
			ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT_MS,
			ConsumerConfig.MAX_POLL_RECORDS_CONFIG, n));
		try (KafkaConsumer<String, String> consumer =
			 new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer()))
		{
			consumer.subscribe(List.of(topic), new ConsumerRebalanceListener()
			{
				@Override
				public void onPartitionsAssigned(Collection<TopicPartition> parts)
				{
					System.out.println("assigned\t" + names(parts));
					System.out.flush();
				}

				@Override
				public void onPartitionsRevoked(Collection<TopicPartition> parts)
				{
				}
			});

			/* the offset after the last record printed, per partition */
			Map<TopicPartition, OffsetAndMetadata> next = new TreeMap<>(BY_PARTITION);
			long deadline = System.currentTimeMillis() + TIMEOUT_MS;
			int got = 0;

			while (got < n)
			{
				long left = deadline - System.currentTimeMillis();
				if (left <= 0)
					throw new TimeoutException("consumed " + got + " of " + n + " records of " + topic);
				for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(Math.min(left, 500))))
				{
					if (got == n)
						break;
					System.out.println(String.join("\t", "record", String.valueOf(r.partition()),
						String.valueOf(r.offset()), String.valueOf(r.key()), String.valueOf(r.value())));
					next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
					got++;
				}
			}
			consumer.commitSync(next, Duration.ofMillis(TIMEOUT_MS));
			for (Map.Entry<TopicPartition, OffsetAndMetadata> e : next.entrySet())
				System.out.println("committed\t" + e.getKey().partition() + "\t" + e.getValue().offset());
		}
	}

	private void adminCreate(String topic, int partitions) throws Exception
	{
		try (Admin admin = admin())
		{
			CreateTopicsResult r = admin.createTopics(List.of(
				new NewTopic(topic, Optional.of(partitions), Optional.empty())));
			r.all().get();
			System.out.println(String.join("\t", "created", topic,
				String.valueOf(r.numPartitions(topic).get()), r.topicId(topic).get().toString()));
		}
	}

	private void adminList() throws Exception
	{
		try (Admin admin = admin())
		{
			Set<String> names = admin.listTopics().names().get();
			Map<String, TopicDescription> d = new TreeMap<>(admin.describeTopics(names).allTopicNames().get());
			for (TopicDescription t : d.values())
				System.out.println(String.join("\t", "topic", t.name(), t.topicId().toString(),
					String.valueOf(t.partitions().size())));
		}
	}

	private void adminOperations(String topic, String group) throws Exception
	{
		try (Admin admin = admin())
		{
			printOperations("cluster", admin.describeCluster(
				new DescribeClusterOptions().includeAuthorizedOperations(true)).authorizedOperations().get());
			printOperations("topic", admin.describeTopics(List.of(topic),
				new DescribeTopicsOptions().includeAuthorizedOperations(true))
				.allTopicNames().get().get(topic).authorizedOperations());
			printOperations("group", admin.describeConsumerGroups(List.of(group),
				new DescribeConsumerGroupsOptions().includeAuthorizedOperations(true))
				.all().get().get(group).authorizedOperations());
		}
	}

	private static void printOperations(String what, Set<AclOperation> ops)
	{
		String list = ops == null ? "null" : ops.isEmpty() ? "-" :
			ops.stream().map(AclOperation::toString).sorted().collect(Collectors.joining(","));
		System.out.println(String.join("\t", "operations", what, list));
	}

	private void adminDescribeConfigs(String topic) throws Exception
	{
		try (Admin admin = admin())
		{
			ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
			Config c = admin.describeConfigs(List.of(res)).all().get().get(res);
			new TreeMap<>(c.entries().stream().collect(Collectors.toMap(e -> e.name(), e -> e)))
				.values()
				.forEach(e -> System.out.println(String.join("\t", "config", e.name(),
					String.valueOf(e.value()), e.source().toString())));
		}
	}

	private void adminDelete(String topic) throws Exception
	{
		try (Admin admin = admin())
		{
			admin.deleteTopics(List.of(topic)).all().get();
			System.out.println("deleted\t" + topic);
		}
	}

	/* "TYPE=NAME;TYPE=NAME" as a ClientQuotaEntity (a null name: the default) */
	private static ClientQuotaEntity quotaEntity(String text)
	{
		Map<String, String> m = new HashMap<>();
		for (String part : text.split(";"))
		{
			int eq = part.indexOf('=');
			if (eq < 0)
				usage();
			String name = part.substring(eq + 1);
			m.put(part.substring(0, eq), name.equals("<default>") ? null : name);
		}
		return new ClientQuotaEntity(m);
	}

	/* A ClientQuotaEntity as "TYPE=NAME;TYPE=NAME", types sorted */
	private static String quotaEntityText(ClientQuotaEntity e)
	{
		return new TreeMap<>(e.entries()).entrySet().stream()
			.map(x -> x.getKey() + "=" + (x.getValue() == null ? "<default>" : x.getValue()))
			.collect(Collectors.joining(";"));
	}

	private void quotasAlter(String[] a) throws Exception
	{
		boolean validateOnly = a[0].equals("--validate-only");
		int i = validateOnly ? 1 : 0;
		if (a.length <= i)
			usage();
		ClientQuotaEntity entity = quotaEntity(a[i++]);
		List<ClientQuotaAlteration.Op> ops = new ArrayList<>();
		for (; i < a.length; i++)
		{
			int eq = a[i].indexOf('=');
			if (eq < 0)
				usage();
			String v = a[i].substring(eq + 1);
			ops.add(new ClientQuotaAlteration.Op(a[i].substring(0, eq),
				v.isEmpty() ? null : Double.valueOf(v)));
		}
		try (Admin admin = admin())
		{
			admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, ops)),
				new AlterClientQuotasOptions().validateOnly(validateOnly)).all().get();
			System.out.println("altered\t" + quotaEntityText(entity));
		}
	}

	private void quotasDescribe(String[] a) throws Exception
	{
		boolean strict = a.length > 0 && a[0].equals("--strict");
		List<ClientQuotaFilterComponent> components = new ArrayList<>();
		for (int i = strict ? 1 : 0; i < a.length; i++)
		{
			int eq = a[i].indexOf('=');
			if (eq < 0)
				components.add(ClientQuotaFilterComponent.ofEntityType(a[i]));
			else if (a[i].substring(eq + 1).equals("<default>"))
				components.add(ClientQuotaFilterComponent.ofDefaultEntity(a[i].substring(0, eq)));
			else
				components.add(ClientQuotaFilterComponent.ofEntity(a[i].substring(0, eq),
					a[i].substring(eq + 1)));
		}
		try (Admin admin = admin())
		{
			Map<ClientQuotaEntity, Map<String, Double>> all = admin.describeClientQuotas(
				strict ? ClientQuotaFilter.containsOnly(components) : ClientQuotaFilter.contains(components))
				.entities().get();
			TreeMap<String, String> lines = new TreeMap<>();
			all.forEach((e, values) -> values.forEach((k, v) ->
				lines.put(quotaEntityText(e) + "\t" + k, String.join("\t", "quota",
					quotaEntityText(e), k, String.valueOf(v)))));
			lines.values().forEach(System.out::println);
		}
	}

	private void groupsList() throws Exception
	{
		try (Admin admin = admin())
		{
			Collection<GroupListing> all = admin.listGroups().all().get();
			new TreeMap<>(all.stream().collect(Collectors.toMap(GroupListing::groupId, g -> g)))
				.values()
				.forEach(g -> System.out.println(String.join("\t", "group", g.groupId(),
					g.type().map(Object::toString).orElse("-"),
					g.protocol().isEmpty() ? "-" : g.protocol(),
					g.groupState().map(Object::toString).orElse("-"))));
		}
	}

	private void groupsDescribe(String group) throws Exception
	{
		try (Admin admin = admin())
		{
			ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
			System.out.println(String.join("\t", "group", d.groupId(), d.groupState().toString(),
				d.partitionAssignor().isEmpty() ? "-" : d.partitionAssignor(),
				String.valueOf(d.members().size()),
				d.coordinator() == null ? "-" : String.valueOf(d.coordinator().id())));
			for (MemberDescription m : d.members())
				System.out.println(String.join("\t", "member", m.consumerId(), m.clientId(), m.host(),
					names(m.assignment().topicPartitions())));

			Map<TopicPartition, OffsetAndMetadata> offsets = new TreeMap<>(BY_PARTITION);
			offsets.putAll(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get());
			offsets.forEach((tp, o) -> System.out.println(String.join("\t", "offset", tp.topic(),
				String.valueOf(tp.partition()), o == null ? "-" : String.valueOf(o.offset()))));
		}
	}

	/* ------------------------------------------------------------ helpers */

	/* "t-0,t-1" sorted by topic and partition, "-" for none */
	private static String names(Collection<TopicPartition> parts)
	{
		if (parts.isEmpty())
			return "-";
		return parts.stream()
			.sorted(BY_PARTITION)
			.map(TopicPartition::toString)
			.collect(Collectors.joining(","));
	}

	private static Properties loadProperties(String path) throws Exception
	{
		Properties p = new Properties();
		if (!path.equals("-"))
			try (InputStream in = new FileInputStream(path))
			{
				p.load(in);
			}
		return p;
	}

	/* The exception the client raised, without the future's wrappers. */
	private static void printError(Throwable e)
	{
		while ((e instanceof ExecutionException || e instanceof CompletionException) && e.getCause() != null)
			e = e.getCause();
		System.err.println("error: " + e.getClass().getName() + ": " + e.getMessage());
		for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause())
			System.err.println("caused by: " + c.getClass().getName() + ": " + c.getMessage());
	}

	private static void setDefault(String key, String value)
	{
		if (System.getProperty(key) == null)
			System.setProperty(key, value);
	}

	private static int intArg(String s)
	{
		try
		{
			return Integer.parseInt(s);
		}
		catch (NumberFormatException e)
		{
			System.err.println("kafka-tool: not a number: " + s);
			System.exit(2);
			return 0;
		}
	}

	private static void need(String[] a, int min, int max)
	{
		if (a.length < min || a.length > max)
			usage();
	}

	private static void usage()
	{
		System.err.println("usage: kafka-tool.sh BOOTSTRAP PROPERTIES|- COMMAND ARGS...\n"
			+ "commands: produce TOPIC N [FIRST] | consume TOPIC N [GROUP] | admin-create TOPIC PARTITIONS\n"
			+ "          admin-list | admin-describe-configs TOPIC | admin-delete TOPIC\n"
			+ "          groups-list | groups-describe GROUP\n"
			+ "          quotas-alter [--validate-only] ENTITY KEY=VALUE|KEY= ... | quotas-describe [--strict] [TYPE[=NAME]] ...");
		System.exit(2);
	}
}
