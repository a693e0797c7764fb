/* Preloaded into Kamailio (LD_PRELOAD, see sip/kamailio_config.py): each forked Kamailio process gets
 * an OpenSSL error state of its own.
 *
 * Kamailio 5.6 (Debian 12's) allocates OpenSSL's memory in shared memory and initialises
 * OpenSSL in its main process. OpenSSL 3 keeps each thread's error state behind a pthread
 * key, so every worker forked from the main process inherits a pointer to the same state:
 * workers handling TLS errors at the same time free and rewrite one structure ("freeing
 * already freed pointer ... tls_init.c", then a crash; kamailio#3695, #3791). A stranger who
 * opens and drops TLS connections can bring it down. Kamailio 5.8 clears that key in each
 * child after fork (tls_threads_mode=2); Debian 12 ships 5.6.3, so this library does the same,
 * for the one key whose value is OpenSSL's error state and nothing else. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>

#define KEYS_SEARCHED 64 /* OpenSSL's keys are among the first a process creates */

static void forget_inherited_error_state(void)
{
	/* RTLD_NOLOAD: only when Kamailio has loaded OpenSSL (tls.so); never loads it. */
	void *libcrypto = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);
	if(libcrypto == NULL)
		return;
	void *(*error_state)(void) = (void *(*)(void))dlsym(libcrypto, "ERR_get_state");
	void *inherited = error_state == NULL ? NULL : error_state();
	if(inherited != NULL) {
		for(pthread_key_t key = 0; key < KEYS_SEARCHED; key++) {
			if(pthread_getspecific(key) == inherited) {
				/* OpenSSL allocates a fresh state on this process's next error. */
				pthread_setspecific(key, NULL);
			}
		}
	}
	dlclose(libcrypto);
}

__attribute__((constructor)) static void install(void)
{
	pthread_atfork(NULL, NULL, forget_inherited_error_state);
}
