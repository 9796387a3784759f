#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc,char**argv){ int n=atoi(argv[1]); char *t=malloc((size_t)n*16); size_t o=0; for(int i=0;i<n;i++) o+=sprintf(t+o,"k%d: 1\n",i);
 struct timespec a,b; clock_gettime(CLOCK_MONOTONIC,&a); struct fy_parse_cfg cfg={.flags=FYPCF_QUIET|(argc>2?FYPCF_ALLOW_DUPLICATE_KEYS:0)};
 struct fy_document *d=fy_document_build_from_string(&cfg,t,o); clock_gettime(CLOCK_MONOTONIC,&b);
 printf("n=%d doc=%d %.2f s%s\n",n,d!=NULL,(b.tv_sec-a.tv_sec)+(b.tv_nsec-a.tv_nsec)/1e9, argc>2?" (ALLOW_DUPLICATE_KEYS)":""); return 0;}
