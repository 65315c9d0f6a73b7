function (doc) {
  // A message's links (rd.ext.links), in the order they first occur: the conversation
  // screen asks with keys = its messages' ids (POST {"keys": [...]}).
  if (doc.rd_schema_id !== 'rd.attach.link' || !doc.message) return;
  emit(doc.message[1], { url: doc.url, text: doc.text, host: doc.host, position: doc.position });
}
