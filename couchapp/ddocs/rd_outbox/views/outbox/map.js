function (doc) {
  // Outgoing mail (src/protocols/smtp): the user's rd.msg.outgoing, the protocol document
  // rd.msg.outgoing.smtp and the sender's rd.msg.outgoing.state, keyed [Message-ID, schema]
  // so one range read (startkey [id], endkey [id, {}]) gives all three of a message, and
  // a full read lists the outbox. The value is what a list shows without opening the docs.
  var s = doc.rd_schema_id;
  if (s !== 'rd.msg.outgoing' && s !== 'rd.msg.outgoing.smtp' && s !== 'rd.msg.outgoing.state') return;
  var id = doc.rd_key && doc.rd_key[1];
  if (typeof id !== 'string') return;
  var request = typeof doc.send_request === 'number' ? doc.send_request : 1;
  if (s === 'rd.msg.outgoing') {
    emit([id, s], { state: doc.state, send_request: request, account: doc.account, subject: doc.subject, to: doc.to, requested_at: doc.requested_at || null });
  } else if (s === 'rd.msg.outgoing.state') {
    emit([id, s], { state: doc.state, send_request: request, sent_copy: !!doc.sent_copy, next_attempt_at: doc.next_attempt_at || null, error: doc.error || null });
  } else {
    emit([id, s], { send_request: request });
  }
}
