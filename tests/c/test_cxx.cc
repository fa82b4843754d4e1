// SPDX-License-Identifier: MIT
/*
 * libkbus from C++: kbus.h compiles as C++ and its functions link with C
 * linkage (extern "C"). Built without exceptions or RTTI and linked with
 * the C driver, so it needs no C++ runtime in the guest.
 */
#include "kt.h"

static void cxx_message_round_trip(void)
{
	kbus_message_t *m = NULL, *c = NULL;

	KT_OK(kbus_msg_create_entire(&m, "$.Fred", 6, "Hellow", 6, 0));
	KT_EQ(kbus_msg_sizeof(m), static_cast<int>(KBUS_ENTIRE_MSG_LEN(6, 6)));
	KT_PRINTS(m, KBUS_MSG_PRINT_FLAGS_ABBREVIATE, "<Announcement '$.Fred' data=Hellow>");
	KT_OK(kbus_msg_copy_entire(&c, m));
	KT_CHECK(memcmp(kbus_msg_name_ptr(c), "$.Fred", 6) == 0);
	KT_CHECK(!kbus_msg_is_reply(c) && !kbus_msg_is_request(c) && kbus_msg_is_entire(c));
	kbus_msg_delete(&c);
	kbus_msg_delete(&m);
	KT_CHECK(m == nullptr);
}

static void cxx_send_and_receive(void)
{
	kbus_ksock_t s, l;
	kbus_message_t *m = NULL, *got = NULL;
	kbus_msg_id_t id = {0, 0};

	KT_OPEN(s, O_RDWR);
	KT_OPEN(l, O_RDONLY);
	KT_OK(kbus_ksock_bind(l, "$.CTest.Cxx", 0));
	KT_OK(kbus_msg_create(&m, "$.CTest.Cxx", 11, "++", 2, 0));
	KT_OK(kbus_ksock_send_msg(s, m, &id));
	kbus_msg_delete(&m);
	KT_EQ(kbus_wait_for_message_timeout(l, KBUS_KSOCK_READABLE, 5000), KBUS_KSOCK_READABLE);
	KT_OK(kbus_ksock_read_next_msg(l, &got));
	KT_CHECK(got != nullptr);
	KT_EQ(kbus_msg_compare_ids(&got->id, &id), 0);
	KT_CHECK(memcmp(kbus_msg_data_ptr(got), "++", 2) == 0);
	kbus_msg_delete(&got);
}

static const struct kt_test tests[] = {
	KT_TEST(cxx_message_round_trip),
	KT_DEVICE_TEST(cxx_send_and_receive),
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
