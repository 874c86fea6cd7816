# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reset's pure parts: which iptables lines go, and in which order mounts come off."""

from __future__ import annotations

from ansible_collections.keelson.platform.plugins.module_utils._k3s_reset import filter_iptables, mounts_under

SAVED = """*filter
:INPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:FLANNEL-FWD - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -p tcp --dport 22 -j ACCEPT
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
COMMIT
*nat
:CNI-HOSTPORT-DNAT - [0:0]
COMMIT
"""


def test_filter_iptables_keeps_everything_else() -> None:
    kept, dropped = filter_iptables(SAVED)
    assert dropped == 5
    assert kept == "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\nCOMMIT\n"
    assert filter_iptables(kept) == (kept, 0)


def test_mounts_deepest_first() -> None:
    mountinfo = "\n".join(
        [
            "30 1 0:26 / / rw - ext4 /dev/vda rw",
            "41 30 0:40 / /run/k3s rw - tmpfs tmpfs rw",
            "42 41 0:41 / /run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay overlay rw",
            "43 30 0:42 / /var/lib/kubelet/pods/x/volumes/kubernetes.io~projected/kube-api-access rw - tmpfs tmpfs rw",
            "44 30 0:43 / /home rw - ext4 /dev/vdb rw",
        ]
    )
    assert mounts_under(mountinfo) == [
        "/var/lib/kubelet/pods/x/volumes/kubernetes.io~projected/kube-api-access",
        "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs",
        "/run/k3s",
    ]
