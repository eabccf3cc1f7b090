# The repository's example image: the tiny x86-64 kernel in example/hello
# (built from hello.S by example/hello/build.sh), packaged as a Linux guest
# for urunc's qemu monitor. Under urunc it prints its banner, its kernel
# command line and the arguments from Cmd, then powers off.
{
  name = "bimanix-hello";
  tag = "latest";
  files = {
    "./example/hello/hello.bzImage" = "/kernel";
  };
  annotations = {
    unikernelType = "linux";
    hypervisor = "qemu";
    binary = "/kernel";
    cmdline = "/hello one 'two words' three";
  };
}
