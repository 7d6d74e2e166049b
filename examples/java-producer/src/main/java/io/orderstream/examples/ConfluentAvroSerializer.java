package io.orderstream.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Avro values in the Confluent wire format: byte 0, the schema id (4 bytes, big-endian), then
 * Avro binary. The schema and its id come from the registry's latest version of a subject
 * ({@code <topic>-value}, TopicNameStrategy), fetched once with the JDK's HTTP client.
 */
public final class ConfluentAvroSerializer implements Serializer<GenericRecord> {
  private static final byte MAGIC = 0;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Schema schema;
  private final int schemaId;
  private final GenericDatumWriter<GenericRecord> writer;
  private BinaryEncoder encoder;

  private ConfluentAvroSerializer(Schema schema, int schemaId) {
    this.schema = schema;
    this.schemaId = schemaId;
    this.writer = new GenericDatumWriter<>(schema);
  }

  /** The latest schema of {@code subject}, or a clear error saying what to do. */
  public static ConfluentAvroSerializer forLatest(String registryUrl, String subject) {
    String url = registryUrl.replaceAll("/+$", "") + "/subjects/" + subject + "/versions/latest";
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    HttpRequest request = HttpRequest.newBuilder(URI.create(url))
        .header("Accept", "application/vnd.schemaregistry.v1+json")
        .timeout(Duration.ofSeconds(30))
        .GET()
        .build();
    HttpResponse<String> response;
    try {
      response = http.send(request, HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new IllegalStateException("cannot reach the schema registry at " + registryUrl
          + " (" + e + "); start it with `orderstream up` or set SCHEMA_REGISTRY_URL", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while asking the registry", e);
    }
    if (response.statusCode() == 404) {
      throw new IllegalStateException("subject " + subject + " is not registered at "
          + registryUrl + "; run `orderstream schemas register` (`orderstream up` does it)");
    }
    if (response.statusCode() != 200) {
      throw new IllegalStateException("registry answered " + response.statusCode() + " for "
          + url + ": " + response.body());
    }
    try {
      JsonNode body = JSON.readTree(response.body());
      Schema schema = new Schema.Parser().parse(body.get("schema").asText());
      return new ConfluentAvroSerializer(schema, body.get("id").asInt());
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("registry answer for " + subject + " is not a schema: "
          + response.body(), e);
    }
  }

  public Schema schema() {
    return schema;
  }

  public int schemaId() {
    return schemaId;
  }

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {}

  @Override
  public byte[] serialize(String topic, GenericRecord record) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(128);
    out.write(MAGIC);
    out.writeBytes(ByteBuffer.allocate(4).putInt(schemaId).array());
    try {
      encoder = EncoderFactory.get().binaryEncoder(out, encoder);
      writer.write(record, encoder);
      encoder.flush();
    } catch (IOException | RuntimeException e) {
      throw new SerializationException("cannot encode " + record + " with schema id " + schemaId, e);
    }
    return out.toByteArray();
  }
}
