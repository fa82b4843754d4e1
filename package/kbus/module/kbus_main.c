// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: module load and unload, parameters (the
 * bounds), the device table, device nodes and NEWDEVICE.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "kbus_internal.h"

unsigned int kbus_num_devices = CONFIG_KBUS_DEF_NUM_DEVICES;
module_param(kbus_num_devices, uint, 0444);
MODULE_PARM_DESC(kbus_num_devices,
		 "Number of KBUS devices to create at load (grows with NEWDEVICE)");

/* Bounds on the message bytes clients can make the kernel hold. */
unsigned long kbus_max_ksock_bytes = 8UL << 20;
module_param(kbus_max_ksock_bytes, ulong, 0644);
MODULE_PARM_DESC(kbus_max_ksock_bytes,
		 "Most message bytes one Ksock's queue may hold (default 8 MiB)");

unsigned long kbus_max_user_bytes = 32UL << 20;
module_param(kbus_max_user_bytes, ulong, 0644);
MODULE_PARM_DESC(kbus_max_user_bytes,
		 "Most message bytes the Ksocks of one user may hold on one device (default 32 MiB)");

unsigned long kbus_max_device_bytes = 64UL << 20;
module_param(kbus_max_device_bytes, ulong, 0644);
MODULE_PARM_DESC(kbus_max_device_bytes,
		 "Most message bytes queued, being read or written on one device (default 64 MiB)");

/* Bounds on bindings, Ksocks and devices. */
unsigned int kbus_max_ksock_bindings = 4096;
module_param(kbus_max_ksock_bindings, uint, 0644);
MODULE_PARM_DESC(kbus_max_ksock_bindings,
		 "Most bindings of one Ksock (default 4096)");

unsigned int kbus_max_user_bindings = 16384;
module_param(kbus_max_user_bindings, uint, 0644);
MODULE_PARM_DESC(kbus_max_user_bindings,
		 "Most bindings of one user on one device (default 16384)");

unsigned int kbus_max_device_bindings = 65536;
module_param(kbus_max_device_bindings, uint, 0644);
MODULE_PARM_DESC(kbus_max_device_bindings,
		 "Most bindings on one device (default 65536)");

unsigned int kbus_max_user_ksocks = 1024;
module_param(kbus_max_user_ksocks, uint, 0644);
MODULE_PARM_DESC(kbus_max_user_ksocks,
		 "Most Ksocks one user may have open on one device (default 1024)");

unsigned int kbus_max_user_devices = 4;
module_param(kbus_max_user_devices, uint, 0644);
MODULE_PARM_DESC(kbus_max_user_devices,
		 "Most devices one unprivileged user may create with NEWDEVICE (default 4)");

/*
 * The original's open behaviour, for old clients that need it: anyone may
 * change device-wide settings and read every detail in /proc/kbus, and any
 * full listener of bind events holds up every replier BIND/UNBIND.
 */
bool kbus_compat_open;
module_param(kbus_compat_open, bool, 0644);
MODULE_PARM_DESC(kbus_compat_open,
		 "Original open behaviour: device-wide settings and /proc details for everyone (default N)");

static ushort kbus_dev_mode = 0666;
module_param(kbus_dev_mode, ushort, 0444);
MODULE_PARM_DESC(kbus_dev_mode,
		 "Permission bits of the /dev/kbusN nodes (default 0666)");

/* Protects kbus_devices[] and kbus_dev_count; taken before any dev->lock. */
static DEFINE_MUTEX(kbus_devices_lock);
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

/*
 * May the caller change device-wide settings (VERBOSE, REPORTREPLIERBINDS,
 * MAXMSGSIZE) of the device file is open on? With CAP_SYS_ADMIN, as the
 * owner of its node, or as the unprivileged user that made it with
 * NEWDEVICE; anyone when kbus_compat_open is set.
 */
bool kbus_may_admin(struct file *file, struct kbus_dev *dev)
{
	kuid_t uid = current_fsuid();

	if (READ_ONCE(kbus_compat_open) || capable(CAP_SYS_ADMIN))
		return true;
	if (uid_eq(uid, file_inode(file)->i_uid))
		return true;
	return dev->unprivileged && uid_eq(uid, dev->creator);
}

/* The device with this index, or NULL. Devices live until unload. */
struct kbus_dev *kbus_dev_get(unsigned int index)
{
	struct kbus_dev *dev = NULL;

	mutex_lock(&kbus_devices_lock);
	if (index < kbus_dev_count)
		dev = kbus_devices[index];
	mutex_unlock(&kbus_devices_lock);
	return dev;
}

static void kbus_free_device(struct kbus_dev *dev)
{
	kbus_policy_exit(dev);
	kbus_requests_exit(dev);
	kbus_index_exit(dev);
	xa_destroy(&dev->ksock_ids);
	mutex_destroy(&dev->lock);
	kfree(dev);
}

/* Create device number kbus_dev_count. */
static int kbus_create_device(kuid_t creator, bool unprivileged)
{
	unsigned int index = kbus_dev_count;
	struct kbus_dev *dev;
	int err;

	lockdep_assert_held(&kbus_devices_lock);
	if (index >= KBUS_MAX_NUM_DEVICES)
		return -EINVAL;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;

	dev->index = index;
	dev->creator = creator;
	dev->unprivileged = unprivileged;
	mutex_init(&dev->lock);
	spin_lock_init(&dev->acct_lock);
	INIT_LIST_HEAD(&dev->bindings);
	INIT_LIST_HEAD(&dev->ksocks);
	INIT_LIST_HEAD(&dev->users);
	INIT_LIST_HEAD(&dev->sending);
	INIT_LIST_HEAD(&dev->setaside);
	xa_init(&dev->ksock_ids);
	dev->max_message_size = CONFIG_KBUS_DEF_MAX_MESSAGE_SIZE;
	dev->verbose = IS_ENABLED(CONFIG_KBUS_DEBUG_DEFAULT_VERBOSE);

	err = kbus_index_init(dev);
	if (err)
		goto err_free;
	err = kbus_requests_init(dev);
	if (err)
		goto err_index;
	err = kbus_policy_init(dev);
	if (err)
		goto err_requests;

	/*
	 * The cdev has a life of its own (its kobject may outlive its
	 * removal), so it is not embedded in dev; open finds dev by minor.
	 */
	dev->cdev = cdev_alloc();
	if (!dev->cdev) {
		err = -ENOMEM;
		goto err_requests;
	}
	dev->cdev->ops = &kbus_fops;
	dev->cdev->owner = THIS_MODULE;
	/* Published before the node exists: open looks it up. */
	kbus_devices[index] = dev;
	kbus_dev_count = index + 1;
	err = cdev_add(dev->cdev, MKDEV(MAJOR(kbus_devt), index), 1);
	if (err)
		goto err_cdev;

	dev->device = device_create(kbus_class, NULL,
				    MKDEV(MAJOR(kbus_devt), index), dev,
				    "kbus%u", index);
	if (IS_ERR(dev->device)) {
		err = PTR_ERR(dev->device);
		cdev_del(dev->cdev);
		goto err_unpublish;
	}
	kbus_num_devices = kbus_dev_count;
	return 0;

err_cdev:
	kobject_put(&dev->cdev->kobj);
err_unpublish:
	kbus_devices[index] = NULL;
	kbus_dev_count = index;
err_requests:
	kbus_policy_exit(dev);
	kbus_requests_exit(dev);
err_index:
	kbus_index_exit(dev);
err_free:
	mutex_destroy(&dev->lock);
	kfree(dev);
	return err;
}

/* How many devices this unprivileged user made (kbus_devices_lock). */
static unsigned int kbus_devices_made_by(kuid_t uid)
{
	unsigned int i, n = 0;

	lockdep_assert_held(&kbus_devices_lock);
	for (i = 0; i < kbus_dev_count; i++) {
		if (kbus_devices[i]->unprivileged &&
		    uid_eq(kbus_devices[i]->creator, uid))
			n++;
	}
	return n;
}

/*
 * NEWDEVICE: create the next device and return its index. Without
 * CAP_SYS_ADMIN a user may make kbus_max_user_devices devices (EPERM
 * beyond); the owner of the node of a device it made may change that
 * device's settings.
 */
int kbus_new_device(u32 *index)
{
	bool unprivileged = !capable(CAP_SYS_ADMIN);
	kuid_t uid = current_euid();
	int err;

	mutex_lock(&kbus_devices_lock);
	if (unprivileged &&
	    kbus_devices_made_by(uid) >= READ_ONCE(kbus_max_user_devices)) {
		err = -EPERM;
	} else {
		*index = kbus_dev_count;
		err = kbus_create_device(uid, unprivileged);
	}
	mutex_unlock(&kbus_devices_lock);
	if (!err)
		pr_debug("created /dev/kbus%u\n", *index);
	return err;
}

static void kbus_destroy_device(struct kbus_dev *dev)
{
	device_destroy(kbus_class, MKDEV(MAJOR(kbus_devt), dev->index));
	cdev_del(dev->cdev);
	/* No Ksock can be open: the module is only unloaded when unused. */
	WARN_ON(!list_empty(&dev->ksocks) || !list_empty(&dev->bindings) ||
		!list_empty(&dev->setaside) || !list_empty(&dev->users) ||
		dev->mem);
	kbus_free_device(dev);
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

	err = kbus_names_init();
	if (err)
		return err;
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
		err = kbus_create_device(GLOBAL_ROOT_UID, false);
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
