package io.orderstream.examples;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.Future;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The seed's transactional producer: OrderCreated events for the catalog that
 * {@code orderstream seed} writes (products p-00000...), keyed by orderId, committed in
 * transactions of ORDERS_PER_TRANSACTION. A failed transaction is aborted and written again
 * (the order ids stay the same, so enrichment sees each order once: aborted records are never
 * read by its read_committed consumer). Settings come from the environment; the defaults match
 * {@code orderstream up}. Prints one JSON summary line on stdout.
 */
public final class TransactionalOrderProducer {
  private TransactionalOrderProducer() {}

  private static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isBlank() ? fallback : value;
  }

  private static int envInt(String name, int fallback) {
    String value = env(name, Integer.toString(fallback));
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a whole number, got " + value);
    }
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = env("BOOTSTRAP_SERVERS", "127.0.0.1:9092");
    String registryUrl = env("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081");
    String topic = env("TOPIC", "orders");
    int count = envInt("ORDERS", 100);
    int perTransaction = Math.max(1, envInt("ORDERS_PER_TRANSACTION", 10));
    int products = Math.max(1, envInt("PRODUCTS", 100));
    String prefix = env("ORDER_ID_PREFIX", "java-" + Long.toString(System.currentTimeMillis(), 36));

    ConfluentAvroSerializer values;
    try {
      values = ConfluentAvroSerializer.forLatest(registryUrl, topic + "-value");
    } catch (IllegalStateException e) {
      System.err.println("error: " + e.getMessage());
      System.exit(2);
      return;
    }

    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.CLIENT_ID_CONFIG, "orderstream-java-producer");
    props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, env("TRANSACTIONAL_ID", "orderstream-java-producer"));
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    // Java reads and writes every codec; the default is orderstream's (see its README).
    props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, env("COMPRESSION", "lz4"));

    Random random = new Random(envInt("SEED", 7));
    int transactions = 0;
    int aborted = 0;
    try (KafkaProducer<String, GenericRecord> producer =
        new KafkaProducer<>(props, new StringSerializer(), values)) {
      producer.initTransactions();
      for (int start = 0; start < count; start += perTransaction) {
        List<GenericRecord> batch = new ArrayList<>();
        for (int i = start; i < Math.min(count, start + perTransaction); i++) {
          batch.add(order(values, prefix + "-" + i, random, products));
        }
        while (!commit(producer, topic, batch)) {
          aborted++;
        }
        transactions++;
      }
    }
    System.out.printf(
        "{\"sent\": %d, \"transactions\": %d, \"aborted\": %d, \"topic\": \"%s\", "
            + "\"schemaId\": %d, \"orderIdPrefix\": \"%s\"}%n",
        count, transactions, aborted, topic, values.schemaId(), prefix);
  }

  /** One transaction; false when it was aborted and should be written again. */
  private static boolean commit(
      KafkaProducer<String, GenericRecord> producer, String topic, List<GenericRecord> batch)
      throws Exception {
    producer.beginTransaction();
    try {
      List<Future<RecordMetadata>> sent = new ArrayList<>();
      for (GenericRecord order : batch) {
        sent.add(producer.send(new ProducerRecord<>(topic, order.get("orderId").toString(), order)));
      }
      for (Future<RecordMetadata> f : sent) {
        f.get();
      }
      producer.commitTransaction();
      return true;
    } catch (ProducerFencedException | OutOfOrderSequenceException | AuthorizationException e) {
      // Fatal for this producer (another one took its transactional id, or the broker refuses).
      throw e;
    } catch (KafkaException | java.util.concurrent.ExecutionException e) {
      System.err.println("transaction aborted, retrying: " + e);
      producer.abortTransaction();
      return false;
    }
  }

  private static GenericRecord order(
      ConfluentAvroSerializer values, String orderId, Random random, int products) {
    int index = random.nextInt(products);
    int quantity = 1 + random.nextInt(3);
    GenericRecord order = new GenericData.Record(values.schema());
    order.put("orderId", orderId);
    order.put("customerId", "c-" + random.nextInt(1000));
    order.put("productId", String.format("p-%05d", index));
    order.put("quantity", quantity);
    // The price rule of `orderstream seed` (ops/seed.py unit_price_cents).
    order.put("amountCents", (long) quantity * (100 + (index * 7919L) % 10_000));
    order.put("currency", "EUR");
    order.put("timestamp", Instant.now().toEpochMilli());
    return order;
  }
}
