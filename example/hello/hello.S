/*
 * hello.S: bimanix's example kernel, a tiny x86-64 kernel in the Linux
 * bzImage format.
 *
 * It prints a banner, its kernel command line and the arguments after
 * "--" on COM1, then resets the machine (qemu -no-reboot then exits).
 * That is all a test needs to see that an image boots and that urunc
 * passed the arguments it was meant to.
 *
 * Layout (see hello.ld), following the Linux/x86 boot protocol 2.12:
 *   file 0x000  boot sector: prints a hint if a BIOS boots it directly
 *   file 0x1f1  setup header
 *   file 0x200  real-mode entry (qemu -kernel, GRUB, ...): enters
 *               protected mode and jumps to the 32-bit entry
 *   then        protected-mode part, loaded at 0x100000:
 *     +0x000    32-bit entry: builds page tables, enters long mode
 *     +0x200    64-bit entry (XLF_KERNEL_64): the actual program
 *
 * Every entry point follows the boot protocol's conventions, so a boot
 * loader may use whichever it likes; all paths end in the 64-bit code.
 */

COM1            = 0x3f8
KERNEL_BASE     = 0x100000      /* where the protected-mode part is linked */
PAGE_SIZE       = 4096
TOKEN_MAX       = 2047          /* longest argument kept; the rest is cut */

/* boot_params offsets used by the 32- and 64-bit code */
BP_CODE32_START = 0x214
BP_CMD_LINE_PTR = 0x228

/* ------------------------------------------------------------------ */
        .section .setup, "ax"
        .code16

/* A BIOS loads this sector at 0x7c00 when asked to boot the file as a disk. */
bootsect:
        ljmp    $0x07c0, $1f            /* make offsets start at 0 */
1:      movw    %cs, %ax
        movw    %ax, %ds
        movw    $boot_hint, %si
2:      lodsb
        testb   %al, %al
        jz      3f
        movb    $0x0e, %ah              /* BIOS teletype output */
        movw    $0x0007, %bx
        int     $0x10
        jmp     2b
3:      cli
        hlt
        jmp     3b
boot_hint:
        .asciz  "This is a bzImage: boot it with a boot loader, e.g. qemu -kernel.\r\n"

/* The setup header; fields a boot loader fills in are left zero. */
        .org    0x1f1
        .byte   setup_sects             /* setup_sects (from hello.ld) */
        .word   0                       /* root_flags */
        .long   syssize                 /* syssize, in 16-byte units */
        .word   0                       /* ram_size */
        .word   0xffff                  /* vid_mode: normal */
        .word   0                       /* root_dev */
        .word   0xaa55                  /* boot_flag */
        jmp     start_of_setup          /* 0x200: real-mode entry */
        .ascii  "HdrS"                  /* header */
        .word   0x020c                  /* version: 2.12, has xloadflags */
        .long   0                       /* realmode_swtch */
        .word   0                       /* start_sys_seg */
        .word   kernel_version - 0x200  /* kernel_version */
        .byte   0                       /* type_of_loader */
        .byte   0x01                    /* loadflags: LOADED_HIGH */
        .word   0                       /* setup_move_size */
        .long   KERNEL_BASE             /* code32_start */
        .long   0                       /* ramdisk_image */
        .long   0                       /* ramdisk_size */
        .long   0                       /* bootsect_kludge */
        .word   0                       /* heap_end_ptr */
        .byte   0                       /* ext_loader_ver */
        .byte   0                       /* ext_loader_type */
        .long   0                       /* cmd_line_ptr */
        .long   0x7fffffff              /* initrd_addr_max */
        .long   PAGE_SIZE               /* kernel_alignment */
        .byte   0                       /* relocatable_kernel: no */
        .byte   12                      /* min_alignment: 4 KiB */
        .word   0x0001                  /* xloadflags: XLF_KERNEL_64 */
        .long   TOKEN_MAX               /* cmdline_size */
        .long   0                       /* hardware_subarch: PC */
        .quad   0                       /* hardware_subarch_data */
        .long   0                       /* payload_offset: no payload */
        .long   0                       /* payload_length */
        .quad   0                       /* setup_data */
        .quad   KERNEL_BASE             /* pref_address */
        .long   init_size               /* init_size (from hello.ld) */
        .long   0                       /* handover_offset: no EFI */

kernel_version:
        .asciz  "bimanix hello kernel"

/*
 * Real-mode entry. The boot loader has loaded this setup code at some
 * segment S (0x1000 under qemu) and jumped to S+0x20:0; the setup area
 * starts with the header and serves as the boot_params ("zero page").
 */
start_of_setup:
        cli
        cld
        movw    %cs, %ax
        subw    $0x20, %ax
        movw    %ax, %ds
        movzwl  %ax, %esi
        shll    $4, %esi                /* %esi = linear address of boot_params */

        inb     $0x92, %al              /* open the A20 gate ("fast A20") */
        orb     $0x02, %al
        andb    $0xfe, %al              /* without asking for a reset */
        outb    %al, $0x92

        /* The GDT and the 32-bit stub sit at S*16 + offset: patch in S. */
        movl    %esi, %eax
        addl    $setup_gdt, %eax
        movl    %eax, setup_gdt_desc + 2
        movl    %esi, %eax
        addl    $in_pm32, %eax
        movl    %eax, in_pm32_ptr

        lgdtl   setup_gdt_desc
        movl    %cr0, %eax
        orb     $0x01, %al              /* PE */
        movl    %eax, %cr0
        ljmpl   *in_pm32_ptr

        .code32
/*
 * Now in 32-bit protected mode: set up what the 32-bit entry expects.
 * %esp is left alone: nothing uses a stack before the 64-bit code sets one.
 */
in_pm32:
        movl    $0x18, %eax             /* __BOOT_DS */
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %fs
        movw    %ax, %gs
        movw    %ax, %ss
        movl    BP_CODE32_START(%esi), %eax
        xorl    %ebx, %ebx
        xorl    %ebp, %ebp
        xorl    %edi, %edi
        jmp     *%eax

        .balign 8
/* The boot protocol's selectors: __BOOT_CS = 0x10, __BOOT_DS = 0x18. */
setup_gdt:
        .quad   0
        .quad   0
        .quad   0x00cf9a000000ffff      /* 0x10: 4 GiB flat code, 32-bit */
        .quad   0x00cf92000000ffff      /* 0x18: 4 GiB flat data */
setup_gdt_end:
setup_gdt_desc:
        .word   setup_gdt_end - setup_gdt - 1
        .long   0                       /* base, patched at run time */
in_pm32_ptr:
        .long   0                       /* offset, patched at run time */
        .word   0x10                    /* __BOOT_CS */

/* ------------------------------------------------------------------ */
        .section .kernel, "ax"
        .code32

/*
 * 32-bit entry (boot protocol: flat segments, paging off, %esi =
 * boot_params). Maps the first 4 GiB one to one, which covers this
 * kernel and any command line, and enters long mode.
 */
        .globl  startup_32      /* the ELF entry, for tools that read hello.elf */
startup_32:
        cli
        cld
        lgdt    gdt64_desc
        movl    $0x10, %eax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss

        movl    $pml4, %edi             /* clear all the page tables */
        xorl    %eax, %eax
        movl    $(6 * PAGE_SIZE / 4), %ecx
        rep stosl

        movl    $(pdpt + 3), pml4       /* present, writable */
        movl    $(pd + 3), %eax         /* four page directories, 1 GiB each */
        movl    $pdpt, %edi
        movl    $4, %ecx
1:      movl    %eax, (%edi)
        addl    $PAGE_SIZE, %eax
        addl    $8, %edi
        loop    1b
        movl    $0x83, %eax             /* present, writable, 2 MiB page */
        movl    $pd, %edi
        movl    $(4 * 512), %ecx
2:      movl    %eax, (%edi)
        addl    $0x200000, %eax
        addl    $8, %edi
        loop    2b

        movl    $pml4, %eax
        movl    %eax, %cr3
        movl    %cr4, %eax
        orl     $0x20, %eax             /* PAE */
        movl    %eax, %cr4
        movl    $0xc0000080, %ecx       /* EFER */
        rdmsr
        orl     $0x100, %eax            /* LME */
        wrmsr
        movl    %cr0, %eax
        orl     $0x80000001, %eax       /* PG, PE */
        movl    %eax, %cr0
        ljmp    $0x08, $startup_64

        .code64
        .org    0x200
/*
 * 64-bit entry (boot protocol: long mode, this kernel, boot_params and
 * the command line mapped one to one, %rsi = boot_params). The code
 * from here on is position independent.
 */
startup_64:
        cli
        cld
        leaq    stack_top(%rip), %rsp
        movq    %rsi, %rbx
        call    serial_init

        leaq    banner(%rip), %rsi
        call    puts
        leaq    cmdline_label(%rip), %rsi
        call    puts
        movl    BP_CMD_LINE_PTR(%rbx), %r12d    /* zero-extends */
        testq   %r12, %r12
        jz      1f
        movq    %r12, %rsi
        call    puts
1:      leaq    crlf(%rip), %rsi
        call    puts
        testq   %r12, %r12
        jz      power_off
        movq    %r12, %rsi
        call    print_args

power_off:
        movw    $(COM1 + 5), %dx        /* wait until the last byte is out */
1:      inb     %dx, %al
        testb   $0x40, %al              /* transmitter empty */
        jz      1b
        movb    $0xfe, %al              /* i8042: pulse the reset line */
        outb    %al, $0x64
        lidt    no_idt(%rip)            /* failing that, triple fault */
        int3
2:      hlt
        jmp     2b

/*
 * print_args: print the arguments after the "--" token of the command
 * line at %rsi, one "arg[N]: word" line each, N counting from 0.
 * Tokens are split on blanks; a single-quoted run is part of its token
 * with the quotes removed, which undoes urunc's quoting of arguments
 * that hold spaces.
 * %r12: read cursor, %r13: token write cursor, %r14: next N,
 * %r15: nonzero once "--" was seen, %ebx: bit 0 inside quotes, bit 1
 * token had a quote (so a quoted '--' is an argument), %rbp: token end.
 */
print_args:
        movq    %rsi, %r12
        xorl    %r14d, %r14d
        xorl    %r15d, %r15d
        leaq    token_end(%rip), %rbp
next_token:
        movzbl  (%r12), %eax
        testl   %eax, %eax
        jz      3f
        cmpb    $' ', %al
        ja      token_start
        incq    %r12
        jmp     next_token
token_start:
        leaq    token(%rip), %r13
        xorl    %ebx, %ebx
token_char:
        movzbl  (%r12), %eax
        testl   %eax, %eax
        jz      token_done
        cmpb    $'\'', %al
        jne     1f
        xorl    $1, %ebx
        orl     $2, %ebx
        incq    %r12
        jmp     token_char
1:      cmpb    $' ', %al
        ja      2f
        testl   $1, %ebx
        jz      token_done
2:      cmpq    %rbp, %r13
        jae     4f                      /* token buffer full: drop the byte */
        movb    %al, (%r13)
        incq    %r13
4:      incq    %r12
        jmp     token_char
token_done:
        movb    $0, (%r13)
        testl   %r15d, %r15d
        jnz     print_token
        testl   $2, %ebx
        jnz     next_token
        leaq    token(%rip), %rax
        movq    %r13, %rcx
        subq    %rax, %rcx
        cmpq    $2, %rcx
        jne     next_token
        cmpw    $0x2d2d, (%rax)         /* "--" */
        jne     next_token
        movl    $1, %r15d
        jmp     next_token
print_token:
        leaq    arg_open(%rip), %rsi
        call    puts
        movq    %r14, %rax
        call    putdec
        leaq    arg_close(%rip), %rsi
        call    puts
        leaq    token(%rip), %rsi
        call    puts
        leaq    crlf(%rip), %rsi
        call    puts
        incq    %r14
        jmp     next_token
3:      ret

/* serial_init: COM1 at 115200 baud, 8N1, FIFOs on, no interrupts. */
        .macro  outb_imm port, value
        movw    $\port, %dx
        movb    $\value, %al
        outb    %al, %dx
        .endm
serial_init:
        outb_imm COM1 + 1, 0x00         /* IER: no interrupts */
        outb_imm COM1 + 3, 0x80         /* LCR: DLAB, to set the divisor */
        outb_imm COM1 + 0, 0x01         /* divisor 1: 115200 baud */
        outb_imm COM1 + 1, 0x00
        outb_imm COM1 + 3, 0x03         /* LCR: 8 bits, no parity, 1 stop */
        outb_imm COM1 + 2, 0xc7         /* FCR: enable and clear FIFOs */
        outb_imm COM1 + 4, 0x03         /* MCR: DTR, RTS */
        ret

/* putc: send %dil to COM1, polling. Clobbers %eax, %edx. */
putc:
        movw    $(COM1 + 5), %dx
1:      inb     %dx, %al
        testb   $0x20, %al              /* transmit holding register empty */
        jz      1b
        movl    %edi, %eax
        movw    $COM1, %dx
        outb    %al, %dx
        ret

/* puts: send the NUL-terminated string at %rsi. Clobbers %eax, %edx, %edi, %rsi. */
puts:
        movzbl  (%rsi), %edi
        testl   %edi, %edi
        jz      1f
        call    putc
        incq    %rsi
        jmp     puts
1:      ret

/* putdec: send %rax in decimal. Clobbers %rax, %rcx, %rdx, %rdi, %rsi. */
putdec:
        leaq    digits_end(%rip), %rsi
        movb    $0, (%rsi)
        movl    $10, %ecx
1:      xorl    %edx, %edx
        divq    %rcx
        addb    $'0', %dl
        decq    %rsi
        movb    %dl, (%rsi)
        testq   %rax, %rax
        jnz     1b
        jmp     puts

/* The firmware may have left the cursor mid-line: start a fresh one. */
banner:         .asciz  "\r\nbimanix hello kernel\r\n"
cmdline_label:  .asciz  "cmdline: "
arg_open:       .asciz  "arg["
arg_close:      .asciz  "]: "
crlf:           .asciz  "\r\n"

        .balign 8
gdt64:
        .quad   0
        .quad   0x00af9a000000ffff      /* 0x08: 64-bit code */
        .quad   0x00cf92000000ffff      /* 0x10: 4 GiB flat data */
gdt64_end:
gdt64_desc:
        .word   gdt64_end - gdt64 - 1
        .long   gdt64
no_idt:
        .word   0
        .quad   0

/* ------------------------------------------------------------------ */
        .section .kbss, "aw", @nobits
        .balign PAGE_SIZE
pml4:   .skip   PAGE_SIZE
pdpt:   .skip   PAGE_SIZE
pd:     .skip   4 * PAGE_SIZE
        .skip   PAGE_SIZE
stack_top:
token:  .skip   TOKEN_MAX
token_end:
        .skip   1                       /* the token's terminating NUL */
digits: .skip   20                      /* 2^64 - 1 has 20 digits */
digits_end:
        .skip   1
