#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Run each blkdebug injection point on QEMU 7.2 (qemu-system-x86_64 -machine
# none) and on fdsetd side by side: a qcow2 node on a blkdebug node with a
# once rule, qemu-io over HMP, then qemu-img check.  Not CI: a comparison.
# Usage: tests/fault/compare-qemu-blkdebug.py [N cases] (FDSETD=path)
import json, subprocess, os, sys, socket, time, tempfile
TMP = tempfile.mkdtemp(prefix='blkdebug-cmp-')
FDSETD = os.environ.get('FDSETD', os.path.join(os.path.dirname(__file__),
                                               '../../build/fdsetd'))
cases=[("refblock_update_part","",None,"write -P 7 0 64k"),("cow_read","",None,"write -P 7 0 4k"),("cow_write","",None,"write -P 7 0 4k"),("refblock_update","",None,"write -P 7 0 64k"),("cluster_alloc_bytes","",None,"write -P 7 0 4k"),("l2_update","",None,"write -P 7 0 64k"),("write_aio","",None,"write -P 7 0 64k"),("read_aio","","write -P 7 0 64k","read -P 7 0 64k"),
("l1_update","",None,"write -P 7 0 64k"),("l2_alloc_write","",None,"write -P 7 0 64k"),("l2_update","",None,"write -P 7 0 64k"),
("cluster_alloc","",None,"write -P 7 0 64k"),("cluster_alloc_bytes","",None,"write -P 7 0 4k"),("refblock_update","",None,"write -P 7 0 64k"),
("refblock_alloc","-o cluster_size=512",None,"write -P 7 0 256k"),("reftable_grow","-o cluster_size=512",None,"write -P 7 0 9M"),
("flush_to_disk","","write -P 7 0 64k","flush"),("pwritev_zero","","write -P 7 0 64k","write -z 0 4k")]
def session(exe, img, ev, setup, cmd):
    p=os.path.join(TMP, 's.sock')
    if os.path.exists(p): os.unlink(p)
    if 'qemu' in exe:
        args=[exe,'-machine','none','-nodefaults','-display','none','-qmp','unix:%s,server=on,wait=off'%p]
    else:
        args=[exe,'--qmp','unix:%s,server=on,wait=off'%p]
    q=subprocess.Popen(args,stdout=subprocess.PIPE,stderr=subprocess.STDOUT,text=True)
    s=socket.socket(socket.AF_UNIX)
    for i in range(50):
        try: s.connect(p); break
        except Exception: time.sleep(0.1)
    f=s.makefile('rw'); f.readline(); outs=[]
    def x(c):
        f.write(json.dumps(c)+"\n"); f.flush()
        while True:
            l=json.loads(f.readline())
            if 'event' not in l: return l
    x({"execute":"qmp_capabilities"})
    x({"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"q","file":{"driver":"blkdebug","inject-error":[{"event":ev,"errno":5,"once":True}],"image":{"driver":"file","filename":img}}}})
    for c in ([setup] if setup else [])+[cmd,cmd,"flush"]:
        r=x({"execute":"human-monitor-command","arguments":{"command-line":'qemu-io q "%s"'%c}})
        outs.append(r.get('return','ERR'))
    x({"execute":"blockdev-del","arguments":{"node-name":"q"}})
    x({"execute":"quit"}) if 'qemu' in exe else None
    q.kill(); o=q.communicate()[0]
    return outs, o
for ev,opt,setup,cmd in cases[:int(sys.argv[1]) if len(sys.argv)>1 else None]:
    for exe in ['qemu-system-x86_64', FDSETD]:
        img=os.path.join(TMP, 'a.qcow2')
        subprocess.run('rm -f %s; qemu-img create -q -f qcow2 %s %s 16M'%(img,opt,img),shell=True)
        outs,o=session(exe,img,ev,setup,cmd)
        rc=subprocess.run(['qemu-img','check','-q',img],capture_output=True).returncode
        if 'qemu' in exe:
            res=[l for l in o.splitlines() if 'failed' in l or l.startswith('wrote') or l.startswith('read ')]
        else:
            res=[x.strip() for x in outs if x.strip()]
        print("%-20s %-7s check=%d %s"%(ev,'qemu' if 'qemu' in exe else 'fdsetd',rc,res))
