/**
 * Send rate through Raindrop's outbox (the sender's pass over messages rd.ext.outgoing
 * already built: compose with MailComposer, the attempt record, the SMTP transaction,
 * the outcome, the sent copy as a raw message) to a loopback smtp-server with AUTH over
 * STARTTLS, as a ratio against nodemailer alone sending the same messages over the same
 * kind of pooled connection in the same run: the price of "never twice". Also the
 * queue's rate for building the protocol documents (rd.ext.outgoing).
 */
import { readFile } from 'node:fs/promises';
import nodemailer from 'nodemailer';
import { silentLogger } from '../src/core/index.js';
import type { Couch } from '../src/couch/connect.js';
import { destroyDatabase, ensureDatabase } from '../src/couch/ensure-database.js';
import { Sender } from '../src/protocols/smtp/sender.js';
import { QueueRunner } from '../src/queue/queue-runner.js';
import { prepareOutgoingDb, testAccount, writeOutgoing } from '../test/helpers/outgoing.js';
import { startTestSmtp } from '../test/helpers/smtp-server.js';
import type { Benchmark, Measurement } from './harness.js';

const messages = 200;
const me = 'ann@example.org';

export function smtpSendBenchmark(couch: Couch): Benchmark {
  return {
    name: 'smtp-send',
    async run({ log }) {
      const smtp = await startTestSmtp();
      const { db } = await ensureDatabase(couch, `bench_smtp_${Date.now()}`);
      try {
        const ca = await readFile(smtp.caFile);
        const text = (i: number) => `Hello,\n\nthis is message ${i} of the send benchmark, a few lines long like a real note.\n\n-- \nAnn\n`;
        const subject = (i: number) => `Benchmark message ${i}: Grüße`;

        // nodemailer alone: the same messages, composed and sent by nodemailer itself.
        const transport = nodemailer.createTransport({ pool: true, maxConnections: 1, host: smtp.host, port: smtp.port, secure: false, requireTLS: true, auth: { user: smtp.user, pass: smtp.password }, tls: { ca: [ca] }, logger: false });
        await transport.sendMail({ from: { name: 'Ann', address: me }, to: 'bob@example.net', subject: 'warm-up', text: 'warm-up' });
        let t0 = performance.now();
        for (let i = 0; i < messages; i++) {
          await transport.sendMail({ from: { name: 'Ann', address: me }, to: [{ name: 'Bob', address: 'bob@example.net' }], subject: subject(i), text: text(i), messageId: `<plain-${i}.${Date.now()}@example.org>` });
        }
        const plainSeconds = (performance.now() - t0) / 1000;
        transport.close();

        const registry = await prepareOutgoingDb(db, me, ['outgoing.js']);
        const account = testAccount({ host: '127.0.0.1', port: 1, user: 'unused', password: 'unused' }, smtp, me, { saveSent: false });
        const stamp = Date.now();
        for (let i = 0; i < messages; i++) await writeOutgoing(registry, db, `bench-${i}.${stamp}@example.org`, me, { from: { name: 'Ann', address: me }, subject: subject(i), text: text(i) });
        t0 = performance.now();
        const runner = await QueueRunner.start({ db, registry, logger: silentLogger, poolSize: 1 });
        try {
          await runner.runUntilIdle();
        } finally {
          await runner.close();
        }
        const queueSeconds = (performance.now() - t0) / 1000;
        const before = smtp.received.length;
        const sender = new Sender({ registry, db, accounts: { test: account }, logger: silentLogger });
        t0 = performance.now();
        let report;
        try {
          report = await sender.runOnce();
        } finally {
          await sender.close();
          await registry.close();
        }
        const sendSeconds = (performance.now() - t0) / 1000;
        if (report.sent !== messages || smtp.received.length - before !== messages) throw new Error(`smtp-send: ${report.sent} of ${messages} sent`);
        log(`smtp-send: ${messages} messages, nodemailer ${plainSeconds.toFixed(2)} s, raindrop ${sendSeconds.toFixed(2)} s`);
        const plainRate = messages / plainSeconds;
        const sendRate = messages / sendSeconds;
        const out: Measurement[] = [
          { name: 'smtp-nodemailer-alone', value: plainRate, unit: 'msg/s', notes: `${messages} messages, nodemailer's pooled transport, STARTTLS+AUTH to loopback smtp-server` },
          { name: 'smtp-raindrop-send', value: sendRate, unit: 'msg/s', notes: 'sender pass: compose, attempt record, SMTP, outcome, sent copy stored' },
          { name: 'smtp-send-vs-nodemailer', value: sendRate / plainRate, unit: 'ratio', ratioOf: 'smtp-nodemailer-alone', notes: 'the price of the records that make sending exactly-once-or-unknown' },
          { name: 'smtp-outgoing-extension', value: messages / queueSeconds, unit: 'msg/s', notes: 'queue run of rd.ext.outgoing building the protocol documents (pool start included)' },
        ];
        return out;
      } finally {
        await destroyDatabase(couch, db.name).catch(() => undefined);
        await smtp.close();
      }
    },
  };
}
