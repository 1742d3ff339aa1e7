/* Naive circle packing in C: one circle in the middle, two rings, leftovers in free spots.
 *
 * Usage: ./candidate N prints N lines "x y r", one circle each. Only the code between the
 * EVOLVE-BLOCK markers is meant to change. main() always passes the block's layout through
 * make_feasible(), so any layout the block produces becomes a valid packing (it may just
 * score less).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_N 64
#define PI 3.14159265358979323846

/* The centres build_packing() proposes, in order; those past MAX_N are dropped. */
static double centre_x[MAX_N], centre_y[MAX_N];
static int centres;

static void add_centre(double x, double y) {
    if (centres < MAX_N) centre_x[centres] = x, centre_y[centres] = y, centres++;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static double wall_distance(double x, double y) {
    return fmin(fmin(x, y), fmin(1.0 - x, 1.0 - y));
}

/* Turn any layout into a packing that is valid with zero tolerance.
 *
 * Centres are clipped into the square, radii capped at the walls, each overlapping pair is
 * scaled down proportionally, and finally all radii shrink by a tiny margin (about 1e-12)
 * so that rounding can never leave a constraint violated: the evaluator checks every
 * constraint exactly. A packing that is already feasible loses almost nothing.
 */
static void make_feasible(int n, double x[], double y[], double r[]) {
    double walls[MAX_N];
    for (int i = 0; i < n; i++) {
        x[i] = clamp(isnan(x[i]) ? 0.5 : x[i], 0.0, 1.0);
        y[i] = clamp(isnan(y[i]) ? 0.5 : y[i], 0.0, 1.0);
        walls[i] = wall_distance(x[i], y[i]);
        r[i] = fmax(fmin(isnan(r[i]) ? 0.0 : r[i], walls[i]), 0.0);
    }
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            double dist = hypot(x[i] - x[j], y[i] - y[j]);
            if (r[i] + r[j] > dist) {
                double scale = dist / (r[i] + r[j]);
                r[i] *= scale;
                r[j] *= scale;
            }
        }
    }
    for (int round = 0; round < 100; round++) {
        double excess[MAX_N];
        int ok = 1;
        for (int i = 0; i < n; i++) r[i] = fmax(r[i] * (1.0 - 1e-12) - 1e-15, 0.0);
        for (int i = 0; i < n; i++) {
            double worst = r[i] > 0 ? r[i] - walls[i] : -1.0;
            for (int j = 0; j < n; j++) {
                if (j == i || (r[i] <= 0 && r[j] <= 0)) continue;
                worst = fmax(worst, r[i] + r[j] - hypot(x[i] - x[j], y[i] - y[j]));
            }
            if (worst > -1e-14) ok = 0;
            excess[i] = fmax(worst, 0.0) + 1e-13;
        }
        if (ok) break;
        for (int i = 0; i < n; i++) r[i] = fmax(r[i] - excess[i], 0.0);
    }
}

// EVOLVE-BLOCK-START

/* Centres on two rings around the middle; each radius is the distance to the nearest wall.
 * Overlapping pairs are scaled down afterwards by make_feasible(). */
static void build_packing(int n, double x[], double y[], double r[]) {
    add_centre(0.5, 0.5);
    for (int k = 0; k < 8; k++) {
        double angle = 2 * PI * k / 8 + 0.0;
        add_centre(0.5 + 0.3 * cos(angle), 0.5 + 0.3 * sin(angle));
    }
    for (int k = 0; k < 16; k++) {
        double angle = 2 * PI * k / 16 + 0.0;
        add_centre(0.5 + 0.7 * cos(angle), 0.5 + 0.7 * sin(angle));
    }
    add_centre(0.0, 0.0);
    for (int k = 0; k < 8; k++) {
        double angle = 2 * PI * k / 8 + 0.39;
        add_centre(0.5 + 0.45 * cos(angle), 0.5 + 0.45 * sin(angle));
    }
    for (int i = 0; i < n; i++) {
        x[i] = clamp(i < centres ? centre_x[i] : 0.5, 0.01, 0.99);
        y[i] = clamp(i < centres ? centre_y[i] : 0.5, 0.01, 0.99);
        r[i] = wall_distance(x[i], y[i]);
    }
}

// EVOLVE-BLOCK-END

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 26;
    double x[MAX_N], y[MAX_N], r[MAX_N];
    if (n < 1 || n > MAX_N) {
        fprintf(stderr, "n must be between 1 and %d, got %d\n", MAX_N, n);
        return 2;
    }
    build_packing(n, x, y, r);
    make_feasible(n, x, y, r);
    for (int i = 0; i < n; i++) printf("%.17g %.17g %.17g\n", x[i], y[i], r[i]);
    return 0;
}
