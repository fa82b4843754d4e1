// SPDX-License-Identifier: MIT
/*
 * libkbus: printing messages (one-line summary and multi-line dump).
 */
#include <inttypes.h>

#include <kbus/kbus.h>

/* The data bytes shown by the abbreviated summary. */
#define KBUS_PRINT_ABBREV_LEN 20

static int kbus_is_printable(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}


static const char *kbus_msg_kind(const kbus_message_t *msg)
{
	if (kbus_msg_is_reply(msg))
		return kbus_msg_is_status(msg) ? "Status" : "Reply";
	if (kbus_msg_is_request(msg))
		return "Request";
	if (kbus_msg_is_replier_bind_event(msg))
		return "ReplierBindEvent";
	return "Announcement";
}

static int kbus_id_set(const kbus_msg_id_t *id)
{
	return id->network_id || id->serial_num;
}

static int kbus_orig_from_set(const kbus_orig_from_t *of)
{
	return of->network_id || of->local_id;
}

static void kbus_print_bytes(FILE *stream, const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\\')
			fputs("\\\\", stream);	/* so that "\\x00" and a NUL differ */
		else if (kbus_is_printable(p[i]))
			fputc(p[i], stream);
		else
			fprintf(stream, "\\x%02x", (unsigned int)p[i]);
	}
}

/* " [Bind '<name>' for <binder>]"; 0 if the data is not a bind event's. */
static int kbus_print_bind_event(FILE *stream, const kbus_message_t *msg)
{
	kbus_replier_bind_event_data_t ev;
	const unsigned char *data = kbus_msg_data_ptr(msg);

	if (!data || msg->data_len < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	if (ev.name_len > msg->data_len - sizeof(ev))
		return 0;
	fprintf(stream, " [%s '", ev.is_bind ? "Bind" : "Unbind");
	kbus_print_bytes(stream, data + sizeof(ev), ev.name_len);
	fprintf(stream, "' for %" PRIu32 "]", ev.binder);
	return 1;
}

void kbus_msg_print2(FILE *stream, const kbus_message_t *msg, unsigned int flags)
{
	static const struct {
		uint32_t bit;
		const char *word;
	} flag_words[] = {
		{ KBUS_BIT_WANT_A_REPLY, "REQ" },
		{ KBUS_BIT_WANT_YOU_TO_REPLY, "YOU" },
		{ KBUS_BIT_SYNTHETIC, "SYN" },
		{ KBUS_BIT_URGENT, "URG" },
		{ KBUS_BIT_ALL_OR_FAIL, "aFL" },
		{ KBUS_BIT_ALL_OR_WAIT, "aWT" },
	};
	int bind_event;
	size_t i;

	if (!stream)
		return;
	if (!msg) {
		fputs("<NULL message>", stream);
		return;
	}
	bind_event = kbus_msg_is_replier_bind_event(msg);
	fprintf(stream, "<%s", kbus_msg_kind(msg));
	if (!bind_event) {
		fputs(" '", stream);
		kbus_print_bytes(stream, (const unsigned char *)kbus_msg_name_ptr(msg),
				 msg->name_len);
		fputc('\'', stream);
	}
	if (kbus_id_set(&msg->id))
		fprintf(stream, " id=[%" PRIu32 ":%" PRIu32 "]", msg->id.network_id,
			msg->id.serial_num);
	if (msg->to)
		fprintf(stream, " to=%" PRIu32, msg->to);
	if (msg->from)
		fprintf(stream, " from=%" PRIu32, msg->from);
	if (kbus_orig_from_set(&msg->orig_from))
		fprintf(stream, " orig_from=(%" PRIu32 ",%" PRIu32 ")",
			msg->orig_from.network_id, msg->orig_from.local_id);
	if (kbus_orig_from_set(&msg->final_to))
		fprintf(stream, " final_to=(%" PRIu32 ",%" PRIu32 ")",
			msg->final_to.network_id, msg->final_to.local_id);
	if (kbus_id_set(&msg->in_reply_to))
		fprintf(stream, " in_reply_to=[%" PRIu32 ":%" PRIu32 "]",
			msg->in_reply_to.network_id, msg->in_reply_to.serial_num);
	if (msg->flags) {
		fprintf(stream, " flags=0x%" PRIx32, msg->flags);
		for (i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++)
			if (msg->flags & flag_words[i].bit)
				fprintf(stream, " %s", flag_words[i].word);
	}
	if (msg->data_len > 0) {
		const unsigned char *data = kbus_msg_data_ptr(msg);

		fputs(" data=", stream);
		if (!(bind_event && kbus_print_bind_event(stream, msg)) && data) {
			size_t len = msg->data_len;
			int more = 0;

			if ((flags & KBUS_MSG_PRINT_FLAGS_ABBREVIATE) &&
			    len > KBUS_PRINT_ABBREV_LEN) {
				len = KBUS_PRINT_ABBREV_LEN;
				more = 1;
			}
			kbus_print_bytes(stream, data, len);
			if (more)
				fputs("...", stream);
		}
	}
	fputc('>', stream);
}

void kbus_msg_print(FILE *stream, const kbus_message_t *msg)
{
	kbus_msg_print2(stream, msg, KBUS_MSG_PRINT_FLAGS_ABBREVIATE);
}

static void kbus_dump_hex(FILE *stream, const unsigned char *p, size_t len,
			  size_t per_line)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (i % per_line == 0)
			fprintf(stream, "    %04zx:", i);
		fprintf(stream, " %02x", (unsigned int)p[i]);
		if (i % per_line == per_line - 1 || i == len - 1)
			fputc('\n', stream);
	}
}

void kbus_msg_fdump(FILE *stream, const kbus_message_t *msg, int dump_data)
{
	const unsigned char *name, *data;
	size_t i;

	if (!stream)
		return;
	if (!msg) {
		fputs("Message NULL\n", stream);
		return;
	}
	name = (const unsigned char *)kbus_msg_name_ptr(msg);
	data = kbus_msg_data_ptr(msg);
	fprintf(stream, "Message %p (%s, %s, %d bytes)\n", (const void *)msg,
		kbus_msg_kind(msg), kbus_msg_is_entire(msg) ? "entire" : "pointy",
		kbus_msg_sizeof(msg));
	fprintf(stream, "  start_guard: %08" PRIx32 "\n", msg->start_guard);
	fprintf(stream, "  id:          {%" PRIu32 ",%" PRIu32 "}\n", msg->id.network_id,
		msg->id.serial_num);
	fprintf(stream, "  in_reply_to: {%" PRIu32 ",%" PRIu32 "}\n",
		msg->in_reply_to.network_id, msg->in_reply_to.serial_num);
	fprintf(stream, "  to:          %" PRIu32 "\n", msg->to);
	fprintf(stream, "  from:        %" PRIu32 "\n", msg->from);
	fprintf(stream, "  orig_from:   {%" PRIu32 ",%" PRIu32 "}\n",
		msg->orig_from.network_id, msg->orig_from.local_id);
	fprintf(stream, "  final_to:    {%" PRIu32 ",%" PRIu32 "}\n",
		msg->final_to.network_id, msg->final_to.local_id);
	fprintf(stream, "  extra:       %08" PRIx32 "\n", msg->extra);
	fprintf(stream, "  flags:       %08" PRIx32 "\n", msg->flags);
	fprintf(stream, "  name_len:    %" PRIu32 "\n", msg->name_len);
	fprintf(stream, "  data_len:    %" PRIu32 "\n", msg->data_len);
	fprintf(stream, "  name:        %p\n", (void *)msg->name);
	fprintf(stream, "  data:        %p\n", msg->data);
	fprintf(stream, "  end_guard:   %08" PRIx32 "\n", msg->end_guard);
	if (kbus_msg_is_entire(msg)) {
		const kbus_entire_message_t *e = (const kbus_entire_message_t *)msg;
		uint32_t guard;

		memcpy(&guard, &e->rest[KBUS_ENTIRE_MSG_END_GUARD_INDEX(msg->name_len,
									msg->data_len)],
		       sizeof(guard));
		fprintf(stream, "  final end guard: %08" PRIx32 "\n", guard);
	}
	fputs("  Message name: '", stream);
	for (i = 0; i < msg->name_len; i++)
		fputc(name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?', stream);
	fputs("'\n", stream);
	if (!dump_data)
		return;
	if (msg->data_len && data) {
		fputs("  Data as text: '", stream);
		kbus_print_bytes(stream, data, msg->data_len);
		fputs("'\n  Data as hex:\n", stream);
		kbus_dump_hex(stream, data, msg->data_len, 16);
	} else {
		fputs("  No data\n", stream);
	}
	if (kbus_msg_sizeof(msg) > 0) {
		fputs("  Whole message as hex:\n", stream);
		kbus_dump_hex(stream, (const unsigned char *)msg,
			      (size_t)kbus_msg_sizeof(msg), 26);
	}
}

void kbus_msg_dump(const kbus_message_t *msg, int dump_data)
{
	kbus_msg_fdump(stdout, msg, dump_data);
}
