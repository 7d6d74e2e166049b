// kafkajs ships only gzip; orderstream's producers use lz4 by default (the measured choice, see
// the README's Compression section). This registers an LZ4 codec for kafkajs on lz4-napi, whose
// N-API binary comes prebuilt from the npm registry (no compiler, any Node >= 10). Kafka's LZ4
// is the standard LZ4 frame format, which is what compressFrame/decompressFrame read and write.
"use strict";

const { CompressionCodecs, CompressionTypes } = require("kafkajs");
const lz4 = require("lz4-napi");

const LZ4Codec = () => ({
  async compress(encoder) {
    return lz4.compressFrame(encoder.buffer);
  },
  async decompress(buffer) {
    return lz4.decompressFrame(buffer);
  },
});

function registerLz4() {
  CompressionCodecs[CompressionTypes.LZ4] = LZ4Codec;
}

module.exports = { registerLz4, LZ4Codec };
