function (doc) {
  // The conversations a person takes part in, by address: the contact screen asks with
  // keys = the contact's addresses and sorts by latest; the value is what a row shows.
  if (doc.rd_schema_id !== 'rd.conv.summary' || !doc.participants) return;
  var seen = {};
  for (var i = 0; i < doc.participants.length; i++) {
    var a = doc.participants[i] && doc.participants[i].address;
    if (typeof a !== 'string' || seen[a.toLowerCase()]) continue;
    seen[a.toLowerCase()] = true;
    emit(a.toLowerCase(), { conv: doc.rd_key[1], subject: doc.subject, latest: doc.latest_timestamp, messages: doc.message_count, unread: doc.unread_count });
  }
}
