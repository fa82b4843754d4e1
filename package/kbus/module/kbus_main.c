// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: module load and unload, the device table,
 * device nodes and NEWDEVICE.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "kbus_internal.h"

unsigned int kbus_num_devices = CONFIG_KBUS_DEF_NUM_DEVICES;
module_param(kbus_num_devices, uint, 0444);
MODULE_PARM_DESC(kbus_num_devices,
		 "Number of KBUS devices to create at load (grows with NEWDEVICE)");

/* Bounds on the message bytes a client can make the kernel hold. */
unsigned long kbus_max_ksock_bytes = 8UL << 20;
module_param(kbus_max_ksock_bytes, ulong, 0644);
MODULE_PARM_DESC(kbus_max_ksock_bytes,
		 "Most message bytes one Ksock's queue may hold (default 8 MiB)");

unsigned long kbus_max_device_bytes = 64UL << 20;
module_param(kbus_max_device_bytes, ulong, 0644);
MODULE_PARM_DESC(kbus_max_device_bytes,
		 "Most message bytes queued, being read or written on one device (default 64 MiB)");

static ushort kbus_dev_mode = 0666;
module_param(kbus_dev_mode, ushort, 0444);
MODULE_PARM_DESC(kbus_dev_mode,
		 "Permission bits of the /dev/kbusN nodes (default 0666)");

/* Protects kbus_devices[] and kbus_dev_count; taken before any dev->lock. */
DEFINE_MUTEX(kbus_devices_lock);
static struct kbus_dev *kbus_devices[KBUS_MAX_NUM_DEVICES];
static unsigned int kbus_dev_count;
static dev_t kbus_devt;
static struct class *kbus_class;

/* Kbuild probes the kernel headers for these API differences. */
#ifdef KBUS_DEVNODE_CONST
static char *kbus_devnode(const struct device *dev, umode_t *mode)
#else
static char *kbus_devnode(struct device *dev, umode_t *mode)
#endif
{
	if (mode)
		*mode = kbus_dev_mode & 0777;
	return NULL;
}

/* The device with this index, or NULL. */
struct kbus_dev *kbus_dev_get(unsigned int index)
{
	struct kbus_dev *dev = NULL;

	mutex_lock(&kbus_devices_lock);
	if (index < kbus_dev_count)
		dev = kbus_devices[index];
	mutex_unlock(&kbus_devices_lock);
	return dev;
}

/* Create device number kbus_dev_count; called with kbus_devices_lock held. */
static int kbus_create_device(void)
{
	unsigned int index = kbus_dev_count;
	struct kbus_dev *dev;
	int err;

	if (index >= KBUS_MAX_NUM_DEVICES)
		return -EINVAL;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;

	dev->index = index;
	mutex_init(&dev->lock);
	INIT_LIST_HEAD(&dev->bindings);
	INIT_LIST_HEAD(&dev->ksocks);
	INIT_LIST_HEAD(&dev->setaside);
	xa_init(&dev->ksock_ids);
	init_waitqueue_head(&dev->write_wait);
	dev->max_message_size = CONFIG_KBUS_DEF_MAX_MESSAGE_SIZE;
	dev->verbose = IS_ENABLED(CONFIG_KBUS_DEBUG_DEFAULT_VERBOSE);

	err = kbus_index_init(dev);
	if (err)
		goto err_free;

	cdev_init(&dev->cdev, &kbus_fops);
	dev->cdev.owner = THIS_MODULE;
	err = cdev_add(&dev->cdev, MKDEV(MAJOR(kbus_devt), index), 1);
	if (err)
		goto err_index;

	dev->device = device_create(kbus_class, NULL,
				    MKDEV(MAJOR(kbus_devt), index), dev,
				    "kbus%u", index);
	if (IS_ERR(dev->device)) {
		err = PTR_ERR(dev->device);
		goto err_cdev;
	}

	kbus_devices[index] = dev;
	kbus_dev_count = index + 1;
	kbus_num_devices = kbus_dev_count;
	return 0;

err_cdev:
	cdev_del(&dev->cdev);
err_index:
	kbus_index_exit(dev);
err_free:
	kfree(dev);
	return err;
}

/* NEWDEVICE: create the next device and return its index. */
int kbus_new_device(u32 *index)
{
	int err;

	mutex_lock(&kbus_devices_lock);
	*index = kbus_dev_count;
	err = kbus_create_device();
	mutex_unlock(&kbus_devices_lock);
	if (!err)
		pr_debug("created /dev/kbus%u\n", *index);
	return err;
}

static void kbus_destroy_device(struct kbus_dev *dev)
{
	device_destroy(kbus_class, MKDEV(MAJOR(kbus_devt), dev->index));
	cdev_del(&dev->cdev);
	/* No Ksock can be open: the module is only unloaded when unused. */
	WARN_ON(!list_empty(&dev->ksocks) || !list_empty(&dev->bindings) ||
		!list_empty(&dev->setaside) || atomic_long_read(&dev->mem));
	xa_destroy(&dev->ksock_ids);
	kbus_index_exit(dev);
	mutex_destroy(&dev->lock);
	kfree(dev);
}

static void kbus_destroy_all(void)
{
	mutex_lock(&kbus_devices_lock);
	while (kbus_dev_count) {
		kbus_dev_count--;
		kbus_destroy_device(kbus_devices[kbus_dev_count]);
		kbus_devices[kbus_dev_count] = NULL;
	}
	mutex_unlock(&kbus_devices_lock);
}

static int __init kbus_init(void)
{
	unsigned int wanted = kbus_num_devices;
	unsigned int i;
	int err;

	if (wanted < 1 || wanted > KBUS_MAX_NUM_DEVICES) {
		pr_err("kbus_num_devices=%u is outside 1..%u\n", wanted,
		       KBUS_MAX_NUM_DEVICES);
		return -EINVAL;
	}

	err = kbus_queue_cache_init();
	if (err)
		return err;

	err = alloc_chrdev_region(&kbus_devt, 0, KBUS_MAX_NUM_DEVICES,
				  KBUS_MODNAME);
	if (err)
		goto err_cache;

#ifdef KBUS_CLASS_CREATE_HAS_OWNER
	kbus_class = class_create(THIS_MODULE, KBUS_MODNAME);
#else
	kbus_class = class_create(KBUS_MODNAME);
#endif
	if (IS_ERR(kbus_class)) {
		err = PTR_ERR(kbus_class);
		goto err_region;
	}
	kbus_class->devnode = kbus_devnode;

	mutex_lock(&kbus_devices_lock);
	for (i = 0; i < wanted && !err; i++)
		err = kbus_create_device();
	mutex_unlock(&kbus_devices_lock);
	if (err)
		goto err_devices;

	err = kbus_proc_init();
	if (err)
		goto err_devices;

	pr_info("loaded with %u device(s)\n", kbus_dev_count);
	return 0;

err_devices:
	kbus_destroy_all();
	class_destroy(kbus_class);
err_region:
	unregister_chrdev_region(kbus_devt, KBUS_MAX_NUM_DEVICES);
err_cache:
	kbus_queue_cache_exit();
	return err;
}

static void __exit kbus_exit(void)
{
	kbus_proc_exit();
	kbus_destroy_all();
	class_destroy(kbus_class);
	unregister_chrdev_region(kbus_devt, KBUS_MAX_NUM_DEVICES);
	kbus_queue_cache_exit();
}

module_init(kbus_init);
module_exit(kbus_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KBUS kernel-mediated message bus");
MODULE_AUTHOR("KBUS for set-top boxes developers");
